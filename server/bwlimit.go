package server

import (
	"io"
	"sync"
	"time"
)

// bwSlack is the delay owed before the writer sleeps: rsync's
// sleep_for_bwlimit waits only once it owes a tenth of a second, since
// short sleeps are rounded up by the kernel and would slow it below the
// rate.
const bwSlack = 100 * time.Millisecond

// bwLimiter paces a session's writes to a rate, as rsync's --bwlimit does:
// each write goes out in pieces of at most an eighth of a second's worth
// (bwlimit_writemax, at least 512 bytes) and the writer sleeps off what it
// sent ahead of the rate.
type bwLimiter struct {
	mu    sync.Mutex
	rate  float64 // bytes per second
	chunk int
	debt  float64 // bytes sent ahead of the rate
	prior time.Time
	now   func() time.Time
	sleep func(time.Duration)
}

// effectiveBwlimit is rsync's rule: the daemon's --bwlimit caps the
// client's, and either alone applies. Both in KiB/s, 0 = none.
func effectiveBwlimit(daemon, client int64) int64 {
	if daemon > 0 && (client <= 0 || client > daemon) {
		return daemon
	}
	return max(client, 0)
}

// newBwLimiter returns a limiter of kib KiB/s, or nil for none.
func newBwLimiter(kib int64) *bwLimiter {
	if kib <= 0 {
		return nil
	}
	chunk := int64(512)
	if kib*128 > chunk {
		chunk = min(kib*128, 1<<20)
	}
	return &bwLimiter{rate: float64(kib) * 1024, chunk: int(chunk), now: time.Now, sleep: time.Sleep}
}

// write writes p to w at the limiter's pace.
func (b *bwLimiter) write(w io.Writer, p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for len(p) > 0 {
		k := min(len(p), b.chunk)
		m, err := w.Write(p[:k])
		n += m
		b.pace(m)
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// pace accounts for n bytes just written and sleeps once the writer is
// more than bwSlack ahead of the rate.
func (b *bwLimiter) pace(n int) {
	start := b.now()
	b.debt += float64(n)
	if !b.prior.IsZero() {
		b.debt -= start.Sub(b.prior).Seconds() * b.rate
		if b.debt < 0 {
			b.debt = 0
		}
	}
	wait := time.Duration(b.debt / b.rate * float64(time.Second))
	if wait < bwSlack {
		b.prior = start
		return
	}
	b.sleep(wait)
	b.prior = b.now()
	// An oversleep is credit for the next writes, an undersleep a debt.
	b.debt = (wait - b.prior.Sub(start)).Seconds() * b.rate
}
