package instances

import (
	"os"
	"strings"
	"testing"
)

// TestHookAndProxyKeys: the keys of issue 4 load into the instance and its
// modules, and their mistakes are reported on their lines.
func TestHookAndProxyKeys(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(dir+"/m", 0o755); err != nil {
		t.Fatal(err)
	}
	good := "listen: 127.0.0.1:9873\nproxy_protocol: true\nproxy_protocol_hosts: [10.0.0.1, 192.0.2.0/24]\n" +
		"modules:\n  - name: m\n    path: " + dir + "/m\n    pre_xfer_exec: /bin/check \"$RSYNC_USER_NAME\"\n" +
		"    post_xfer_exec: /bin/done\n    early_exec: /bin/mount-it\n    transfer_logging: true\n" +
		"    transfer_log_format: \"%o %f %l\"\n"
	inst, err := load("t", "t.yaml", []byte(good))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	m := inst.Modules[0]
	if !inst.ProxyProtocol || strings.Join(inst.ProxyProtocolHosts, ",") != "10.0.0.1,192.0.2.0/24" ||
		m.PreXferExec != `/bin/check "$RSYNC_USER_NAME"` || m.PostXferExec != "/bin/done" || m.EarlyExec != "/bin/mount-it" ||
		!m.TransferLogging || m.TransferLogFormat != "%o %f %l" {
		t.Fatalf("loaded %+v / %+v", inst, m)
	}

	bad := []struct {
		name, yaml, want string
	}{
		{"proxy without hosts", "proxy_protocol: true\n", ":2: proxy_protocol: true needs proxy_protocol_hosts"},
		{"bad proxy host", "proxy_protocol: true\nproxy_protocol_hosts: [10.0.0.300]\n", ":3: proxy_protocol_hosts:"},
		{"percent var", "pre_xfer_exec: /bin/check %RSYNC_USER_NAME%\n", "%VAR% expansion is not supported"},
		{"hyphen key", "pre-xfer_exec: /bin/x\n", `did you mean "pre_xfer_exec"`},
		{"long format", "transfer_log_format: " + strings.Repeat("x", 4097) + "\n", "transfer_log_format: longer than 4096"},
	}
	for _, tt := range bad {
		y := "listen: 127.0.0.1:9873\n" + tt.yaml + "modules:\n  - name: m\n    path: " + dir + "/m\n"
		_, err := load("t", "t.yaml", []byte(y))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}
