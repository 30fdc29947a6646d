package test

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var metricsRE = regexp.MustCompile(`msg="metrics listening" .*addr=(\S+)`)

// scrape fetches /metrics and returns each sample line's value by its
// series, "name{label="v",...}" as the exposition format writes it.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	must(t, sc.Err())
	return out
}

// TestMetrics: with metrics_listen, a push, a pull, a failed login and a
// made-up module show in the Prometheus counters of the right module.
func TestMetrics(t *testing.T) {
	d := startDaemon(t, "metrics_listen: 127.0.0.1:0\n", "")
	m := metricsRE.FindStringSubmatch(d.Log())
	if m == nil {
		t.Fatalf("no metrics address logged:\n%s", d.Log())
	}
	maddr := m[1]

	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(src, 0o755))
	const size = 300 << 10
	must(t, os.WriteFile(filepath.Join(src, "big"), patterned(size, func(i int) byte { return byte(i * 7 / 5) }), 0o644))
	mustRsync(t, d, "-a", src+"/", d.URL("backup"))
	pulled := t.TempDir()
	mustRsync(t, d, "-a", d.URL("backup/"), pulled+"/")
	compareTrees(t, src, pulled, true)

	bad := filepath.Join(t.TempDir(), "pw")
	must(t, os.WriteFile(bad, []byte("wrong\n"), 0o600))
	if res := runCmd(t, time.Minute, rsyncBin(t), "--password-file="+bad, d.URL("backup/")); res.Code != 5 {
		t.Errorf("wrong password: exit %d\n%s", res.Code, res.Stderr)
	}
	for _, name := range []string{"no-such-module", "another-made-up-one"} {
		if res := rsync(t, d, d.URL(name+"/")); res.Code != 5 {
			t.Errorf("unknown module: exit %d\n%s", res.Code, res.Stderr)
		}
	}

	got := scrape(t, maddr)
	exact := map[string]float64{
		`rsyncd_go_transfers_total{direction="receive",module="backup"}`:                 1,
		`rsyncd_go_transfers_total{direction="send",module="backup"}`:                    1,
		`rsyncd_go_auth_failures_total{module="backup"}`:                                 1,
		`rsyncd_go_connections_total{module="backup"}`:                                   3,
		`rsyncd_go_connections_total{module="unknown"}`:                                  2,
		`rsyncd_go_errors_total{module="unknown",reason="unknown_module"}`:               2,
		`rsyncd_go_transfer_duration_seconds_count{direction="receive",module="backup"}`: 1,
		`rsyncd_go_transfer_duration_seconds_count{direction="send",module="backup"}`:    1,
		`rsyncd_go_connections_active`:                                                   0,
	}
	for series, want := range exact {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	for series, least := range map[string]float64{
		// No -z and a new file: the whole file crosses the wire each way.
		`rsyncd_go_bytes_received_total{module="backup"}`: size,
		`rsyncd_go_bytes_sent_total{module="backup"}`:     size,
	} {
		if got[series] < least {
			t.Errorf("%s = %v, want at least %v", series, got[series], least)
		}
	}
	for series := range got {
		if strings.Contains(series, "made-up") || strings.Contains(series, "no-such") {
			t.Errorf("a client's module name became a label: %s", series)
		}
	}
}
