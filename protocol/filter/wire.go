package filter

import (
	"fmt"

	"github.com/rsyncd-go/rsyncd-go/protocol/wire"
)

// Limits bound what ReadWire accepts; zero fields take the defaults.
type Limits struct {
	// MaxRuleLen bounds one rule string (default MaxLineLen; rsync's
	// recv_filter_list rejects BIGPATHBUFLEN bytes or more).
	MaxRuleLen int
	// MaxRules bounds how many rule strings one list may hold (default
	// 100000; rsync has no limit, this keeps a client from growing the
	// list without end).
	MaxRules int
	// MaxBytes bounds the rule strings' total size (default 8 MiB).
	MaxBytes int
}

func (lim Limits) withDefaults() Limits {
	if lim.MaxRuleLen <= 0 || lim.MaxRuleLen > MaxLineLen {
		lim.MaxRuleLen = MaxLineLen
	}
	if lim.MaxRules <= 0 {
		lim.MaxRules = 100000
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = 8 << 20
	}
	return lim
}

// ReadWire reads the filter list a client sends (rsync's recv_filter_list):
// int32-length-prefixed rule strings ended by a zero length, each parsed as
// FromWire for protocol proto. Lengths and the count are checked before
// anything is allocated; an unparsable rule is an error wrapping ErrSyntax.
func ReadWire(r *wire.Reader, proto int, lim Limits) ([]Rule, error) {
	lim = lim.withDefaults()
	var rules []Rule
	buf := make([]byte, 0, 256)
	emit := func(x Rule) error { rules = append(rules, x); return nil }
	tmpl, xf, _, err := FromWire.setup(proto)
	if err != nil {
		return nil, err
	}
	total := 0
	for count := 0; ; count++ {
		n, err := r.ReadInt32()
		if err != nil {
			return nil, fmt.Errorf("filter: reading rule length: %w", err)
		}
		if n == 0 {
			return rules, nil
		}
		if n < 0 || int(n) > lim.MaxRuleLen {
			return nil, fmt.Errorf("filter: rule of %d bytes exceeds the limit of %d", uint32(n), lim.MaxRuleLen)
		}
		if count >= lim.MaxRules {
			return nil, fmt.Errorf("filter: more than %d rules", lim.MaxRules)
		}
		if total += int(n); total > lim.MaxBytes {
			return nil, fmt.Errorf("filter: rules exceed %d bytes in total", lim.MaxBytes)
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if err := r.ReadFull(buf); err != nil {
			return nil, fmt.Errorf("filter: reading rule: %w", err)
		}
		if err := parseString(string(buf), tmpl, xf, emit); err != nil {
			return nil, err
		}
	}
}

// WriteWire writes rules as rsync's send_filter_list does, prefixes made
// compatible with protocol proto (before 29 only "+ " and "- " exist, so
// other rules are an error; sides and, before 30, perishable marks are
// dropped where rsync drops them), and ends the list with a zero length. It
// writes every rule it is given: choosing which rules the peer should see
// is the caller's job. Merge rules are written as "." rules, which rsync
// itself never sends (it expands them first).
func WriteWire(w *wire.Writer, rules []Rule, proto int) error {
	var buf []byte
	for _, r := range rules {
		p, ok := r.prefix(proto, false)
		if !ok {
			return fmt.Errorf("filter: rule %q cannot be expressed in protocol %d", r.String(), proto)
		}
		buf = append(buf[:0], p...)
		buf = append(buf, r.Pattern...)
		if r.Mods&ModDirOnly != 0 && r.Action != Clear {
			buf = append(buf, '/')
		}
		if len(buf) == 0 {
			continue
		}
		if len(buf) > MaxLineLen {
			return fmt.Errorf("filter: rule of %d bytes is too long to send", len(buf))
		}
		if err := w.WriteInt32(int32(len(buf))); err != nil {
			return fmt.Errorf("filter: writing rule: %w", err)
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("filter: writing rule: %w", err)
		}
	}
	if err := w.WriteInt32(0); err != nil {
		return fmt.Errorf("filter: ending rule list: %w", err)
	}
	return nil
}
