package instances

import (
	"reflect"
	"sort"
	"strings"
	"time"
)

// rawModule is what one module mapping decodes into. Pointers tell a key
// that was set from one that was not, for inheritance from the top level.
type rawModule struct {
	Name              *string        `mapstructure:"name"`
	Path              *string        `mapstructure:"path"`
	Comment           *string        `mapstructure:"comment"`
	ReadOnly          *bool          `mapstructure:"read_only"`
	WriteOnly         *bool          `mapstructure:"write_only"`
	List              *bool          `mapstructure:"list"`
	AuthUsers         *[]string      `mapstructure:"auth_users"`
	SecretsFile       *string        `mapstructure:"secrets_file"`
	StrictModes       *bool          `mapstructure:"strict_modes"`
	AuthDigest        *string        `mapstructure:"auth_digest"`
	HostsAllow        *[]string      `mapstructure:"hosts_allow"`
	HostsDeny         *[]string      `mapstructure:"hosts_deny"`
	ForwardLookup     *bool          `mapstructure:"forward_lookup"`
	ReverseLookup     *bool          `mapstructure:"reverse_lookup"`
	MaxConnections    *int           `mapstructure:"max_connections"`
	Timeout           *time.Duration `mapstructure:"timeout"`
	RefuseOptions     *[]string      `mapstructure:"refuse_options"`
	DontCompress      *[]string      `mapstructure:"dont_compress"`
	Filter            *[]string      `mapstructure:"filter"`
	Include           *[]string      `mapstructure:"include"`
	Exclude           *[]string      `mapstructure:"exclude"`
	IncludeFrom       *string        `mapstructure:"include_from"`
	ExcludeFrom       *string        `mapstructure:"exclude_from"`
	IncomingChmod     *string        `mapstructure:"incoming_chmod"`
	OutgoingChmod     *string        `mapstructure:"outgoing_chmod"`
	UID               *string        `mapstructure:"uid"`
	GID               *string        `mapstructure:"gid"`
	NumericIDs        *bool          `mapstructure:"numeric_ids"`
	FakeSuper         *bool          `mapstructure:"fake_super"`
	TempDir           *string        `mapstructure:"temp_dir"`
	OpenNoatime       *bool          `mapstructure:"open_noatime"`
	MungeSymlinks     *bool          `mapstructure:"munge_symlinks"`
	IgnoreErrors      *bool          `mapstructure:"ignore_errors"`
	IgnoreNonreadable *bool          `mapstructure:"ignore_nonreadable"`
	MaxVerbosity      *int           `mapstructure:"max_verbosity"`
	EarlyExec         *string        `mapstructure:"early_exec"`
	PreXferExec       *string        `mapstructure:"pre_xfer_exec"`
	PostXferExec      *string        `mapstructure:"post_xfer_exec"`
	TransferLogging   *bool          `mapstructure:"transfer_logging"`
	TransferLogFormat *string        `mapstructure:"transfer_log_format"`
}

// rawInstance is the whole file: instance keys, plus every module key but
// name as the default of all modules (rsyncd.conf's global section).
type rawInstance struct {
	rawModule `mapstructure:",squash"`
	Listen    *[]string `mapstructure:"listen"`
	MotdFile  *string   `mapstructure:"motd_file"`
	LogFormat *string   `mapstructure:"log_format"`
	LogFile   *string   `mapstructure:"log_file"`
	PidFile   *string   `mapstructure:"pid_file"`

	LockFile      *string `mapstructure:"lock_file"`
	MetricsListen *string `mapstructure:"metrics_listen"`

	ProxyProtocol      *bool       `mapstructure:"proxy_protocol"`
	ProxyProtocolHosts *[]string   `mapstructure:"proxy_protocol_hosts"`
	Modules            []rawModule `mapstructure:"modules"`

	SocketOptions  *string `mapstructure:"socket_options"`
	ListenBacklog  *int    `mapstructure:"listen_backlog"`
	SyslogFacility *string `mapstructure:"syslog_facility"`
	SyslogTag      *string `mapstructure:"syslog_tag"`
}

type kind int

const (
	kindString kind = iota
	kindBool
	kindInt
	kindDuration
	kindList    // a string or a list of strings
	kindModules // the list of module mappings
)

var kindNames = map[kind]string{
	kindString:   "a string",
	kindBool:     "yes/no (true/false)",
	kindInt:      "a whole number",
	kindDuration: "a number of seconds (or a duration such as 5m)",
	kindList:     "a string or a list of strings",
	kindModules:  "a list of modules",
}

// The keys each level accepts, derived from the raw structs so the schema
// and the decoding never disagree.
var (
	moduleKeys = keysOf(reflect.TypeOf(rawModule{}))
	topKeys    = keysOf(reflect.TypeOf(rawInstance{}))
)

func init() {
	delete(topKeys, "name") // a module's name has no instance-wide default
}

func keysOf(t reflect.Type) map[string]kind {
	keys := map[string]kind{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == ",squash" {
			for k, v := range keysOf(f.Type) {
				keys[k] = v
			}
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		var k kind
		switch {
		case ft == reflect.TypeOf(time.Duration(0)):
			k = kindDuration
		case ft.Kind() == reflect.String:
			k = kindString
		case ft.Kind() == reflect.Bool:
			k = kindBool
		case ft.Kind() == reflect.Int:
			k = kindInt
		case ft == reflect.TypeOf([]string(nil)):
			k = kindList
		case ft == reflect.TypeOf([]rawModule(nil)):
			k = kindModules
		default:
			panic("instances: no kind for field " + f.Name) // programming error, caught by any test
		}
		keys[tag] = k
	}
	return keys
}

// unsupported names rsyncd.conf parameters that rsyncd-go knowingly does not
// take, with what to do instead; they are errors, never silently ignored.
var unsupported = map[string]string{
	"port":           "use listen: \"ADDR:PORT\"",
	"address":        "use listen: \"ADDR:PORT\"",
	"bind_address":   "use listen: \"ADDR:PORT\"",
	"rsync_port":     "use listen: \"ADDR:PORT\"",
	"use_chroot":     "rsyncd-go always confines a module to its path (os.Root); remove it",
	"daemon_chroot":  "not supported; remove it",
	"daemon_uid":     "run the service as that user instead (systemd User=)",
	"daemon_gid":     "run the service as that group instead (systemd Group=)",
	"charset":        "not supported",
	"insecure_links": "not supported: symlinks never lead outside a module",
	"name_converter": "not supported",
}

// suggest names the known key an unknown one most likely meant, or "".
func suggest(key string, known map[string]kind) string {
	norm := strings.NewReplacer(" ", "_", "-", "_").Replace(key)
	if _, ok := known[norm]; ok {
		return norm
	}
	best, bestD := "", 3 // at most two edits away
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(names) // deterministic among equally close keys
	for _, k := range names {
		if d := editDistance(norm, k, bestD); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or max if it is at
// least max (keys are short; a long input is cut off early).
func editDistance(a, b string, max int) int {
	if len(a)-len(b) >= max || len(b)-len(a) >= max {
		return max
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= max {
			return max
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], max)
}
