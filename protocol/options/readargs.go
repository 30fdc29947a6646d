package options

import (
	"errors"
	"fmt"
	"io"
)

// ReadArgs reads one argument list the way rsyncd's read_args does: each
// argument ends with a NUL byte when nulls is set (protocol 30 and later,
// and always for the secluded list of a -s client), else with '\n' or
// '\r'; an empty argument ends the list. It returns the arguments as
// received, for Parse or ParseSecluded. MaxArgs, MaxArgLen and
// MaxArgsBytes are enforced before anything is stored.
func ReadArgs(r io.ByteReader, nulls bool) ([]string, error) {
	var (
		args  []string
		buf   []byte
		total int
	)
	for {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("options: reading argument %d: %w", len(args)+1, err)
		}
		end := c == 0
		if !nulls {
			end = c == '\n' || c == '\r'
		}
		if !end {
			if len(buf) == MaxArgLen {
				return nil, fmt.Errorf("options: argument %d is longer than %d bytes", len(args)+1, MaxArgLen)
			}
			if total++; total > MaxArgsBytes {
				return nil, fmt.Errorf("options: arguments exceed %d bytes", MaxArgsBytes)
			}
			buf = append(buf, c)
			continue
		}
		if len(buf) == 0 {
			return args, nil
		}
		if len(args) == MaxArgs {
			return nil, fmt.Errorf("options: more than %d arguments", MaxArgs)
		}
		args = append(args, string(buf))
		buf = buf[:0]
	}
}
