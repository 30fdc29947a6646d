package protocol

import (
	"fmt"
	"io"
	"os"
	"path"

	"github.com/rsyncd-go/rsyncd-go/protocol/filter"
)

// DaemonFilter is a module's filter parameters as rsyncd.conf(5) spells
// them; they are applied in rsyncd's order: filter, include from, include,
// exclude from, exclude.
type DaemonFilter struct {
	Filter, Include, Exclude []string
	IncludeFrom, ExcludeFrom string // daemon-side files, absolute paths
}

// maxMergeFile bounds a merge file read from the module.
const maxMergeFile = 1 << 20

// mergeReader reads merge files named by rules through the module root, so
// a rule cannot name a file outside the module.
func mergeReader(root *os.Root) filter.ReadFunc {
	return func(name string) ([]byte, error) {
		f, err := root.Open(path.Clean("/" + name)[1:])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readBounded(f, name)
	}
}

// readHostFile reads a merge file named by the operator's own rules.
func readHostFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readBounded(f, name)
}

func readBounded(f io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, maxMergeFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMergeFile {
		return nil, fmt.Errorf("merge file %q exceeds %d bytes", name, maxMergeFile)
	}
	return b, nil
}

// daemonList builds the module's filter list. Its file parameters are the
// operator's, read from the daemon's file system.
func (d *DaemonFilter) list(proto int, dest string) (*filter.List, error) {
	l := filter.New(filter.Config{Protocol: proto, Root: dest})
	add := func(text string, src filter.Source) error {
		rules, err := filter.Parse(text, proto, src)
		if err != nil {
			return err
		}
		return l.Add(rules, readHostFile)
	}
	addFile := func(name string, src filter.Source) error {
		if name == "" {
			return nil
		}
		b, err := readHostFile(name)
		if err != nil {
			return err
		}
		return add(string(b), src)
	}
	steps := []func() error{
		func() error { return addAll(d.Filter, filter.FromConfigFilter, add) },
		func() error { return addFile(d.IncludeFrom, filter.FromConfigIncludeFile) },
		func() error { return addAll(d.Include, filter.FromConfigInclude, add) },
		func() error { return addFile(d.ExcludeFrom, filter.FromConfigExcludeFile) },
		func() error { return addAll(d.Exclude, filter.FromConfigExclude, add) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func addAll(values []string, src filter.Source, add func(string, filter.Source) error) error {
	for _, v := range values {
		if err := add(v, src); err != nil {
			return err
		}
	}
	return nil
}
