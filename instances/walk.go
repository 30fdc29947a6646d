package instances

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the work of walking one file, aliases included, so a small
// file of nested aliases cannot make loading explode.
const maxNodes = 200000

// location is where a key was set: its line and, for lists, each item's.
type location struct {
	line  int
	items []int
}

// itemLine is the line of list item i, or the key's line.
func (l location) itemLine(i int) int {
	if i >= 0 && i < len(l.items) {
		return l.items[i]
	}
	return l.line
}

// keyLines records the keys of one mapping: where each was set, and which
// were dropped for an error already reported.
type keyLines struct {
	line int // the mapping's own line (a module's "- " item)
	keys map[string]location
	bad  map[string]bool
}

// walker checks the YAML node tree against the schema, reporting every
// problem with its line, and builds a clean tree (known keys only, values of
// the expected YAML types, aliases and merge keys expanded) for viper.
type walker struct {
	file     string
	errs     []*Error
	budget   int
	overflow bool
	top      keyLines
	mods     []keyLines
	items    int // entries of the modules list, good or bad
}

func (w *walker) errorf(line int, format string, args ...any) {
	w.errs = append(w.errs, &Error{File: w.file, Line: line, Err: fmt.Errorf(format, args...)})
}

// resolve follows aliases and charges the node budget; nil means give up.
func (w *walker) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 100 {
			return nil
		}
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	if w.budget--; w.budget < 0 {
		if !w.overflow {
			w.overflow = true
			w.errorf(n.Line, "document too large or too deeply aliased (more than %d nodes)", maxNodes)
		}
		return nil
	}
	return n
}

// document walks the whole file and returns the clean top-level mapping.
func (w *walker) document(doc *yaml.Node) *yaml.Node {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return newMapping()
		}
		n = n.Content[0]
	}
	n = w.resolve(n)
	switch {
	case n == nil:
		return newMapping()
	case n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null"):
		return newMapping() // an empty file
	case n.Kind != yaml.MappingNode:
		w.errorf(n.Line, "the top level must be a mapping of keys (listen:, modules:, ...), got %s", describe(n))
		return newMapping()
	}
	out, kl := w.mapping(n, topKeys, true)
	w.top = kl
	return out
}

type pair struct{ key, val *yaml.Node }

// pairs lists a mapping's key/value pairs with YAML merge keys (<<) applied:
// explicit keys win over merged ones, earlier merge sources over later.
func (w *walker) pairs(m *yaml.Node, depth int) []pair {
	var out, merged []pair
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := w.resolve(m.Content[i])
		if k != nil && k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			if depth > 8 {
				w.errorf(k.Line, "merge keys (<<) nested too deeply")
				continue
			}
			src := w.resolve(m.Content[i+1])
			var srcs []*yaml.Node
			switch {
			case src == nil:
			case src.Kind == yaml.MappingNode:
				srcs = append(srcs, src)
			case src.Kind == yaml.SequenceNode:
				for _, s := range src.Content {
					if s = w.resolve(s); s != nil {
						srcs = append(srcs, s)
					}
				}
			default:
				srcs = append(srcs, src) // reported below
			}
			for _, s := range srcs {
				if s.Kind != yaml.MappingNode {
					w.errorf(k.Line, "a merge key (<<) must refer to a mapping, got %s", describe(s))
					continue
				}
				merged = append(merged, w.pairs(s, depth+1)...)
			}
			continue
		}
		out = append(out, pair{m.Content[i], m.Content[i+1]})
	}
	if len(merged) == 0 {
		return out
	}
	seen := map[string]bool{}
	for _, p := range out {
		if k := w.resolve(p.key); k != nil {
			seen[strings.ToLower(k.Value)] = true
		}
	}
	for _, p := range merged {
		k := w.resolve(p.key)
		if k == nil || seen[strings.ToLower(k.Value)] {
			continue
		}
		seen[strings.ToLower(k.Value)] = true
		out = append(out, p)
	}
	return out
}

// mapping checks one mapping (the top level or a module) and returns its
// clean copy with the lines of its keys.
func (w *walker) mapping(m *yaml.Node, known map[string]kind, top bool) (*yaml.Node, keyLines) {
	out := newMapping()
	kl := keyLines{line: m.Line, keys: map[string]location{}, bad: map[string]bool{}}
	for _, p := range w.pairs(m, 0) {
		k := w.resolve(p.key)
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.errorf(k.Line, "keys must be plain names, got %s", describe(k))
			continue
		}
		name := strings.ToLower(k.Value)
		if prev, dup := kl.keys[name]; dup {
			w.errorf(k.Line, "%s: set twice (first on line %d)", name, prev.line)
			continue
		}
		kd, ok := known[name]
		if !ok {
			w.unknownKey(k.Line, name, top)
			kl.bad[name] = true
			continue
		}
		var v *yaml.Node
		var items []int
		if kd == kindModules {
			v = w.modules(p.val, k.Line)
		} else {
			v, items = w.value(kd, p.val, name, k.Line)
		}
		kl.keys[name] = location{line: k.Line, items: items}
		if v == nil {
			kl.bad[name] = true
			continue
		}
		out.Content = append(out.Content, strNode(name), v)
	}
	return out, kl
}

func (w *walker) unknownKey(line int, name string, top bool) {
	norm := strings.NewReplacer(" ", "_", "-", "_").Replace(name)
	_, isModuleKey := moduleKeys[name]
	_, isTopKey := topKeys[name]
	switch {
	case top && isModuleKey: // only "name"
		w.errorf(line, "%s: belongs inside a module, under modules:", name)
	case !top && isTopKey:
		w.errorf(line, "%s: only allowed at the top level, not inside a module", name)
	case unsupported[name] != "":
		w.errorf(line, "%s: not supported by rsyncd-go: %s", name, unsupported[name])
	case unsupported[norm] != "":
		w.errorf(line, "%s: not supported by rsyncd-go: %s", name, unsupported[norm])
	default:
		known := moduleKeys
		if top {
			known = topKeys
		}
		if s := suggest(name, known); s != "" {
			w.errorf(line, "unknown key %q (did you mean %q?)", name, s)
		} else {
			w.errorf(line, "unknown key %q", name)
		}
	}
}

// modules checks the module list and returns its clean copy.
func (w *walker) modules(n *yaml.Node, line int) *yaml.Node {
	n = w.resolve(n)
	out := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return out
	case n.Kind == yaml.MappingNode:
		w.errorf(line, "modules: must be a list (- name: NAME), not a mapping: module names are case-sensitive and a mapping's keys are not")
		return nil
	case n.Kind != yaml.SequenceNode:
		w.errorf(line, "modules: expected a list of modules, got %s", describe(n))
		return nil
	}
	w.items += len(n.Content)
	for _, item := range n.Content {
		item = w.resolve(item)
		if item == nil {
			continue
		}
		if item.Kind != yaml.MappingNode {
			w.errorf(item.Line, "modules: each module must be a mapping with name: and path:, got %s", describe(item))
			continue
		}
		m, kl := w.mapping(item, moduleKeys, false)
		out.Content = append(out.Content, m)
		w.mods = append(w.mods, kl)
	}
	return out
}

// value checks a value against its kind and returns it in the YAML type
// the decoding expects; nil after reporting an error.
func (w *walker) value(kd kind, n *yaml.Node, key string, line int) (*yaml.Node, []int) {
	n = w.resolve(n)
	if n == nil {
		return nil, nil
	}
	isNull := n.Kind == yaml.ScalarNode && n.Tag == "!!null"
	if kd != kindList && n.Kind != yaml.ScalarNode {
		w.errorf(line, "%s: expected %s, got %s", key, kindNames[kd], describe(n))
		return nil, nil
	}
	if isNull && kd != kindString && kd != kindList {
		w.errorf(line, "%s: needs a value (%s)", key, kindNames[kd])
		return nil, nil
	}
	switch kd {
	case kindString:
		if isNull {
			return strNode(""), nil
		}
		return strNode(n.Value), nil
	case kindBool:
		switch strings.ToLower(n.Value) {
		case "yes", "true", "1": // rsyncd's spellings
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"}, nil
		case "no", "false", "0":
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}, nil
		}
		w.errorf(line, "%s: expected yes or no, got %q", key, n.Value)
		return nil, nil
	case kindInt:
		v, ok := scalarInt(n)
		if !ok || v < math.MinInt32 || v > math.MaxInt32 {
			w.errorf(line, "%s: expected %s, got %q", key, kindNames[kd], n.Value)
			return nil, nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v, 10)}, nil
	case kindDuration:
		d, err := scalarDuration(n)
		if err != nil {
			w.errorf(line, "%s: %v", key, err)
			return nil, nil
		}
		// viper's decoding turns this string back into a time.Duration.
		return strNode(d.String()), nil
	case kindList:
		return w.list(n, key, line)
	}
	return nil, nil
}

func (w *walker) list(n *yaml.Node, key string, line int) (*yaml.Node, []int) {
	out := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return out, nil
		}
		out.Content = append(out.Content, strNode(n.Value))
		return out, []int{line}
	case yaml.SequenceNode:
	default:
		w.errorf(line, "%s: expected %s, got %s", key, kindNames[kindList], describe(n))
		return nil, nil
	}
	ok := true
	var items []int
	for _, item := range n.Content {
		itemLine := item.Line
		if item = w.resolve(item); item == nil {
			return nil, nil
		}
		if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
			w.errorf(itemLine, "%s: each entry must be a string, got %s", key, describe(item))
			ok = false
			continue
		}
		out.Content = append(out.Content, strNode(item.Value))
		items = append(items, itemLine)
	}
	if !ok {
		return nil, nil
	}
	return out, items
}

func scalarInt(n *yaml.Node) (int64, bool) {
	if v, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
		return v, true
	}
	if n.Tag == "!!int" { // 0x10, 0o17, 1_000 and the like
		var v int64
		if err := n.Decode(&v); err == nil {
			return v, true
		}
	}
	return 0, false
}

// scalarDuration reads seconds, as rsyncd does, or a Go duration ("5m").
func scalarDuration(n *yaml.Node) (time.Duration, error) {
	if v, ok := scalarInt(n); ok {
		const limit = math.MaxInt64 / int64(time.Second)
		if v > limit || v < -limit {
			return 0, fmt.Errorf("%d seconds is out of range", v)
		}
		return time.Duration(v) * time.Second, nil
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		return 0, fmt.Errorf("expected %s, got %q", kindNames[kindDuration], n.Value)
	}
	return d, nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return strconv.Quote(v)
	}
	return "an unexpected YAML node"
}

func newMapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

// strNode is a string scalar, quoted so that no value ("yes", "0x10", "")
// can be read back as another type.
func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}
