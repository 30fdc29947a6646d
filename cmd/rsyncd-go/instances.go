package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/go-multierror"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/rsyncd-go/rsyncd-go/instances"
	"github.com/rsyncd-go/rsyncd-go/rsyncdconf"
	"github.com/rsyncd-go/rsyncd-go/server"
)

// loaded is one instance file of the config dir and how loading it went.
type loaded struct {
	name string
	file string // "" when Find failed
	inst *instances.Instance
	err  error
}

// discover loads every instance of dir: each NAME.yaml, NAME.yml or NAME.conf (rsyncd.conf), sorted
// by name. A name with both files, or a file that fails to load, comes
// back with its error.
func discover(dir string) ([]loaded, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("config dir: %w", err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") {
			continue
		}
		if base, ok := strings.CutSuffix(n, ".yaml"); ok {
			names = append(names, base)
		} else if base, ok := strings.CutSuffix(n, ".yml"); ok {
			names = append(names, base)
		} else if base, ok := strings.CutSuffix(n, ".conf"); ok {
			names = append(names, base) // an rsyncd.conf
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]loaded, 0, len(names))
	for _, n := range names {
		out = append(out, loadNamed(dir, n))
	}
	return out, nil
}

func loadNamed(dir, name string) loaded {
	l := loaded{name: name}
	l.file, l.err = instances.Find(dir, name)
	if l.err != nil {
		l.file = ""
		return l
	}
	l.inst, l.err = instances.Load(l.file)
	return l
}

// problems flattens err into one error per line: the errors of a
// multierror (nested ones too), or err itself.
func problems(err error) []error {
	if err == nil {
		return nil
	}
	var me *multierror.Error
	if errors.As(err, &me) && len(me.Errors) > 0 {
		var out []error
		for _, e := range me.Errors {
			out = append(out, problems(e)...)
		}
		return out
	}
	return []error{err}
}

func newInstancesCmd(f *flags) *cobra.Command {
	return &cobra.Command{
		Use:   "instances",
		Short: "List the instances of the config dir: name, listen addresses, modules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := instances.ConfigDir(f.configDir)
			all, err := discover(dir)
			if err != nil {
				return err
			}
			if len(all) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no instances in %s (want NAME.yaml files)\n", dir)
				return nil
			}
			return listInstances(cmd.OutOrStdout(), all)
		},
	}
}

func listInstances(w io.Writer, all []loaded) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLISTEN\tMODULES")
	for _, l := range all {
		if l.err != nil {
			n := len(problems(l.err))
			s := "s"
			if n == 1 {
				s = ""
			}
			fmt.Fprintf(tw, "%s\t(invalid: %d error%s)\t\n", l.name, n, s)
			continue
		}
		names := make([]string, len(l.inst.Modules))
		for i, m := range l.inst.Modules {
			names[i] = m.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", l.name, strings.Join(l.inst.Listen, ","), strings.Join(names, ","))
	}
	return tw.Flush()
}

func newCheckCmd(f *flags) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "check [NAME...|--all]",
		Short: "Validate instance configs and report every problem at once",
		Long: `check loads the named instances of the config dir (every instance with
--all or with no names), runs every per-file check, reports module parameters
rsyncd-go does not carry out yet and instances that would listen on the same
address and port. Each problem is one line naming its file and, when known,
its line. The exit status is non-zero when there is any problem.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all && len(args) > 0 {
				return errors.New("check: give instance names or --all, not both")
			}
			return runCheck(cmd.OutOrStdout(), instances.ConfigDir(f.configDir), args)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "check every instance of the config dir (the default with no names)")
	return cmd
}

// runCheck writes one line per problem to w and returns an error counting
// them, or writes "ok: N instances".
func runCheck(w io.Writer, dir string, names []string) error {
	every, err := discover(dir)
	if err != nil {
		return err
	}
	checked := every
	if len(names) > 0 {
		checked = nil
		for _, n := range slices.Compact(slices.Sorted(slices.Values(names))) {
			i := slices.IndexFunc(every, func(l loaded) bool { return l.name == n })
			if i < 0 {
				// Find's error names the paths it tried.
				checked = append(checked, loadNamed(dir, n))
				continue
			}
			checked = append(checked, every[i])
		}
	}
	if len(checked) == 0 {
		return fmt.Errorf("check: no instances in %s (want NAME.yaml files)", dir)
	}
	var errs []error
	for _, l := range checked {
		errs = append(errs, problems(l.err)...)
		if l.inst != nil {
			errs = append(errs, unsupported(l.inst)...)
		}
	}
	errs = append(errs, conflicts(checked, every)...)
	// Group by file, in line order, so an editor can walk the list.
	slices.SortStableFunc(errs, func(a, b error) int {
		var ea, eb *instances.Error
		if !errors.As(a, &ea) || !errors.As(b, &eb) {
			return 0
		}
		if c := strings.Compare(ea.File, eb.File); c != 0 {
			return c
		}
		return ea.Line - eb.Line
	})
	for _, e := range errs {
		fmt.Fprintln(w, e)
	}
	if len(errs) > 0 {
		s := "s"
		if len(errs) == 1 {
			s = ""
		}
		return fmt.Errorf("check: %d problem%s in %s", len(errs), s, dir)
	}
	fmt.Fprintf(w, "ok: %d instances\n", len(checked))
	return nil
}

// unsupported is server.CheckSupported for inst, one *instances.Error per
// problem, on the line of the module when it can be found.
func unsupported(inst *instances.Instance) []error {
	var out []error
	locs := locate(inst.File)
	for _, e := range problems(server.CheckSupported(inst.Modules)) {
		line := 0
		for _, m := range inst.Modules {
			if strings.HasPrefix(e.Error(), fmt.Sprintf("module %q:", m.Name)) {
				line = locs.module[m.Name]
			}
		}
		out = append(out, &instances.Error{File: inst.File, Line: line, Err: e})
	}
	return out
}

// conflicts reports each listen address of a checked instance that
// overlaps one of another instance in the config dir, once per pair.
func conflicts(checked, every []loaded) []error {
	type addr struct {
		l    loaded
		i    int
		line int
	}
	var addrs []addr
	isChecked := map[string]bool{}
	for _, l := range checked {
		isChecked[l.name] = true
	}
	for _, l := range every {
		if l.inst == nil {
			continue
		}
		locs := locate(l.inst.File)
		for i := range l.inst.Listen {
			addrs = append(addrs, addr{l, i, locs.listenLine(i)})
		}
	}
	var out []error
	for j, b := range addrs {
		for _, a := range addrs[:j] {
			if a.l.name == b.l.name || !isChecked[a.l.name] && !isChecked[b.l.name] {
				continue
			}
			la, lb := a.l.inst.Listen[a.i], b.l.inst.Listen[b.i]
			if !server.AddrsOverlap(la, lb) {
				continue
			}
			where := a.l.inst.File
			if a.line > 0 {
				where = fmt.Sprintf("%s:%d", where, a.line)
			}
			out = append(out, &instances.Error{File: b.l.inst.File, Line: b.line,
				Err: fmt.Errorf("listen %s: conflicts with instance %q listening on %s (%s)", lb, a.l.name, la, where)})
		}
	}
	return out
}

// lines are the lines of a config's listen items and modules, for errors
// that cross files; zero where not found (the instances package has
// already checked the file, so a parse failure here just loses the line).
type lines struct {
	listen    []int
	listenKey int
	module    map[string]int
}

func (l lines) listenLine(i int) int {
	if i < len(l.listen) {
		return l.listen[i]
	}
	return l.listenKey
}

func locate(file string) lines {
	out := lines{module: map[string]int{}}
	if instances.IsConf(file) {
		// An rsyncd.conf: its module sections (no listen lines).
		if c, err := rsyncdconf.Parse(file, nil); c != nil && err == nil {
			for _, m := range c.Modules {
				if m.File == filepath.Clean(file) || m.File == file {
					out.module[m.Name] = m.Line
				}
			}
		}
		return out
	}
	data, err := os.ReadFile(filepath.Clean(file))
	if err != nil {
		return out
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return out
	}
	top := doc.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		k, v := top[i], top[i+1]
		switch k.Value {
		case "listen":
			out.listenKey = k.Line
			if v.Kind == yaml.SequenceNode {
				for _, it := range v.Content {
					out.listen = append(out.listen, it.Line)
				}
			} else {
				out.listen = []int{v.Line}
			}
		case "modules":
			if v.Kind != yaml.SequenceNode {
				continue
			}
			for _, m := range v.Content {
				if m.Kind != yaml.MappingNode {
					continue
				}
				for j := 0; j+1 < len(m.Content); j += 2 {
					if m.Content[j].Value == "name" {
						out.module[m.Content[j+1].Value] = m.Line
					}
				}
			}
		}
	}
	return out
}
