package receiver

import (
	"fmt"
	"io"
)

// Flusher is a stream whose buffered output can be pushed out.
type Flusher interface {
	io.Writer
	Flush() error
}

// ForwardFilesFrom sends a daemon-side --files-from list to the client
// that pushes (io.c forward_filesfrom_data): line ends become NUL unless
// eolNulls (--from0), runs of NULs and leading NULs are dropped, and an
// empty name marks the end. Each chunk is flushed at once, as the client
// reads the names while it sends its file list.
func ForwardFilesFrom(w Flusher, src io.Reader, eolNulls bool) error {
	buf := make([]byte, 32*1024)
	var last byte // 0: the last byte sent was a NUL (or nothing was sent)
	var readErr error
	for {
		n, rerr := src.Read(buf)
		out := buf[:0]
		for _, c := range buf[:n] {
			if !eolNulls && (c == '\n' || c == '\r') {
				c = 0
			}
			if c == 0 && last == 0 {
				continue
			}
			out = append(out, c)
			last = c
		}
		if len(out) > 0 {
			if _, err := w.Write(out); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if rerr != nil {
			readErr = rerr
			break
		}
	}
	// A read error ends the list too, as it does in rsync.
	end := []byte{0, 0}
	if last == 0 {
		end = end[:1]
	}
	if _, err := w.Write(end); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if readErr != io.EOF {
		return fmt.Errorf("reading the files-from list: %w", readErr)
	}
	return nil
}

// Forwarder runs ForwardFilesFrom beside the reading of the client's file
// list, which the client sends while it reads the names.
type Forwarder struct {
	done chan error
}

// StartForward forwards src to w on a goroutine of its own and closes src
// when done.
func StartForward(w Flusher, src io.ReadCloser, eolNulls bool) *Forwarder {
	f := &Forwarder{done: make(chan error, 1)}
	go func() {
		err := ForwardFilesFrom(w, src, eolNulls)
		src.Close()
		f.done <- err
	}()
	return f
}

// Wait returns when the list has gone out. Call it once the client's file
// list has been read whole: the client reads the end of the names before
// it ends its list, so it cannot block then.
func (f *Forwarder) Wait() error {
	return <-f.done
}
