package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestJoinAddressForms: --join in the forms people type.
func TestJoinAddressForms(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"10.0.0.1:8080":          "10.0.0.1:8080",
		"http://10.0.0.1:8080":   "10.0.0.1:8080",
		"http://10.0.0.1:8080/":  "10.0.0.1:8080",
		"HTTP://node-1:8080":     "node-1:8080",
		"https://node-1:7000/":   "node-1:7000",
		" node-1:8080 ":          "node-1:8080",
		"[::1]:8080":             "[::1]:8080",
		"http://[fe80::1]:8080/": "[fe80::1]:8080",
	} {
		if got, err := memberAddr(in); err != nil || got != want {
			t.Errorf("--join %q = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"10.0.0.1", "http://10.0.0.1:8080/api", "user@host:80", ":8080", "host:", "ftp://h:1", "ws://h:1"} {
		if got, err := memberAddr(in); err == nil {
			t.Errorf("--join %q accepted as %q", in, got)
		} else if !strings.Contains(err.Error(), "--join") {
			t.Errorf("--join %q: the error does not name the flag: %v", in, err)
		}
	}
}

// TestJoinLists: --join takes a comma list; repeats and this node's own cluster port are left out.
func TestJoinLists(t *testing.T) {
	t.Parallel()
	got, err := memberAddrs(" 10.0.0.1:7000, http://10.0.0.2:7000/ ,10.0.0.1:7000,,")
	if err != nil || strings.Join(got, " ") != "10.0.0.1:7000 10.0.0.2:7000" {
		t.Fatalf("memberAddrs = %q, %v", got, err)
	}
	for _, bad := range []string{",", " , ", "10.0.0.1:7000,10.0.0.2"} {
		if _, err := memberAddrs(bad); err == nil || !strings.Contains(err.Error(), "--join") {
			t.Errorf("--join %q: %v", bad, err)
		}
	}
	o, err := parseOptions("serve", []string{"--auth", "none", "--raft-addr", "127.0.0.1:7001", "--advertise-raft", "127.0.0.2:7001",
		"--join", "127.0.0.1:7001,127.0.0.2:7001,127.0.0.3:7001"}, false)
	if err != nil || strings.Join(o.joinAddrs, " ") != "127.0.0.3:7001" {
		t.Fatalf("own addresses in --join: %v, %v", o, err)
	}
}

// TestJoinSchemeWarnings: a --join URL whose scheme disagrees with the cluster port's TLS is
// warned about, once per address; host:port and agreeing schemes are not.
func TestJoinSchemeWarnings(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		join string
		tls  bool
		want []string
	}{
		{"10.0.0.1:7000", false, nil},
		{"10.0.0.1:7000", true, nil},
		{"http://10.0.0.1:7000", false, nil},
		{"https://10.0.0.1:7000/", true, nil},
		{"https://10.0.0.1:7000/", false, []string{"--join https://10.0.0.1:7000/ says https, but this node has no cluster TLS"}},
		{"HTTPS://a:1,b:2", false, []string{"--join HTTPS://a:1 says https"}},
		{"http://a:1, http://b:2", true, []string{"--join http://a:1 says http, but this node's cluster port runs TLS", "--join http://b:2 says http"}},
	} {
		got := joinSchemeWarnings(tt.join, tt.tls)
		if len(got) != len(tt.want) {
			t.Errorf("--join %q (tls %v): warnings %q, want %d", tt.join, tt.tls, got, len(tt.want))
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], tt.want[i]) {
				t.Errorf("--join %q (tls %v): warning %q, want it to start %q", tt.join, tt.tls, got[i], tt.want[i])
			}
		}
	}
	o, err := parseOptions("serve", []string{"--auth", "none", "--join", "https://127.0.0.1:7001"}, false)
	if err != nil || len(o.warnings) != 1 {
		t.Fatalf("parseOptions: %v, warnings %q", err, o.warnings)
	}
}

// TestBadFlagsTouchNothing: a refused combination of flags is refused before anything is created
// in the data directory (no Raft state bootstrapped, no directory made); so is a start whose
// Redis does not answer (every case runs against a Redis URL nobody listens on).
func TestBadFlagsTouchNothing(t *testing.T) {
	t.Parallel()
	// The refusals of a flag's value or of a combination of flags, as opposed to a file that does
	// not load or a Redis that does not answer: errBadFlag, as errors.go says.
	badFlag := map[string]bool{
		"join without a cluster secret": true, "join by ftp": true, "open cluster port": true,
		"half the TLS files": true, "unknown auth": true, "zero exec timeout": true,
		"zero driver stable time": true, "unknown log format": true, "unknown log level": true,
		"empty log level": true, "jwt issuer without a jwt key": true, "jwt audience without a key": true,
		"public url without a scheme": true, "public url with a query": true, "non-voter bootstrap": true,
	}
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(keys, []byte(`[{key: "0123456789abcdef0123", user_id: a, role: admin}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"join without a cluster secret": {"--auth", "keys", "--api-keys", keys, "--join", "127.0.0.1:1", "--bootstrap"},
		"join by ftp":                   {"--auth", "none", "--join", "ftp://127.0.0.1:1"},
		"open cluster port":             {"--auth", "none", "--raft-addr", "0.0.0.0:7000", "--bootstrap"},
		"half the TLS files":            {"--auth", "none", "--tls-ca", "ca.pem", "--bootstrap"},
		"unknown auth":                  {"--auth", "open", "--bootstrap"},
		"zero exec timeout":             {"--auth", "none", "--exec-timeout", "0s", "--bootstrap"},
		"zero driver stable time":       {"--auth", "none", "--driver-stable-after", "0s", "--bootstrap"},
		"keys without keys":             {"--auth", "keys", "--bootstrap"},
		"unknown log format":            {"--auth", "none", "--log-format", "xml", "--bootstrap"},
		"unknown log level":             {"--auth", "none", "--log-level", "verbose", "--bootstrap"},
		"empty log level":               {"--auth", "none", "--log-level", "", "--bootstrap"},
		"no auth beyond loopback":       {"--auth", "none", "--http-addr", "0.0.0.0:0", "--bootstrap"},
		"unusable secrets key":          {"--auth", "none", "--bootstrap", "--secrets-key-file", keys},
		"missing secrets key":           {"--auth", "none", "--bootstrap", "--secrets-key-file", keys + ".missing"},
		"cluster secret twice":          {"--auth", "none", "--bootstrap", "--cluster-secret", "s", "--cluster-secret-file", keys},
		"pprof on every interface":      {"--auth", "none", "--pprof-addr", ":6060", "--bootstrap"},
		"pprof beyond loopback":         {"--auth", "none", "--pprof-addr", "0.0.0.0:6060", "--bootstrap"},
		"jwt issuer without a jwt key":  {"--auth", "keys", "--api-keys", keys, "--jwt-issuer", "POS", "--bootstrap"},
		"jwt audience without a key":    {"--auth", "keys", "--api-keys", keys, "--jwt-audience", "engine.example.com", "--bootstrap"},
		"public url without a scheme":   {"--auth", "none", "--public-url", "engine.example.com", "--bootstrap"},
		"public url with a query":       {"--auth", "none", "--public-url", "https://engine.example.com/?x=1", "--bootstrap"},
		"redis unreachable":             {"--auth", "none", "--bootstrap"},
		"bad labels":                    {"--auth", "none", "--labels", "site=hq,site=b", "--bootstrap"},
		"non-voter bootstrap":           {"--auth", "none", "--voter=false", "--bootstrap"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := serve(ctx, append([]string{"--data-dir", dir, "--redis", "redis://127.0.0.1:1/0", "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0"}, args...),
				false, &signals{cancel: cancel})
			if err == nil {
				t.Fatal("accepted")
			}
			if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
				t.Fatalf("refused with %v, but the data directory was created", err)
			}
			if badFlag[name] && !errors.Is(err, errBadFlag) {
				t.Fatalf("refused with %v, which is not an errBadFlag", err)
			}
		})
	}
}

// TestLogLevelForms: --log-level in the forms people type, kept as the name hclog and the
// drivers read; anything else is refused naming the flag and the levels.
func TestLogLevelForms(t *testing.T) {
	for in, want := range map[string]string{
		"trace": "trace", "DEBUG": "debug", "Info": "info", " info ": "info",
		"warn": "warn", "WARN": "warn", "warning": "warn", "Warning": "warn", "error": "error", "ERROR": "error",
	} {
		o, err := parseOptions("serve", []string{"--auth", "none", "--log-level", in}, false)
		if err != nil || o.LogLevel != want {
			t.Errorf("--log-level %q: %v, %v; want %q", in, o, err, want)
			continue
		}
		if hclog.LevelFromString(o.LogLevel) == hclog.NoLevel {
			t.Errorf("--log-level %q kept as %q, which hclog does not read", in, o.LogLevel)
		}
	}
	for _, in := range []string{"verbose", "", "warnings", "fatal", "off", "3"} {
		_, err := parseOptions("serve", []string{"--auth", "none", "--log-level", in}, false)
		if err == nil || !strings.Contains(err.Error(), "--log-level") || !strings.Contains(err.Error(), "trace, debug, info, warn") {
			t.Errorf("--log-level %q: %v; want a refusal naming the flag and the levels", in, err)
		}
	}
	t.Setenv("ENGINE_LOG_LEVEL", "loud")
	if _, err := parseOptions("serve", []string{"--auth", "none"}, false); err == nil || !strings.Contains(err.Error(), `"loud"`) {
		t.Errorf("ENGINE_LOG_LEVEL=loud: %v", err)
	}
}

// TestSecretsFromFilesAndEnvironment: secrets come from files or the environment quietly; on the
// command line they work but are warned about; a file others may read is warned about; a secret
// given twice is refused.
func TestSecretsFromFilesAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cluster := write("cluster", "cluster-from-file\n", 0o600)
	jwt := write("jwt", "  jwt-secret-from-a-file-0123456789abcdef \n", 0o644)
	o, err := parseOptions("serve", []string{"--auth", "keys", "--cluster-secret-file", cluster, "--jwt-secret-file", jwt}, false)
	if err != nil {
		t.Fatal(err)
	}
	if o.ClusterSecret != "cluster-from-file" || o.JWTSecret != "jwt-secret-from-a-file-0123456789abcdef" {
		t.Fatalf("secrets read from files: %q, %q", o.ClusterSecret, o.JWTSecret)
	}
	if len(o.secretWarnings) != 1 || !strings.Contains(o.secretWarnings[0], "--jwt-secret-file "+jwt+" is readable by other users") {
		t.Fatalf("warnings for files: %q", o.secretWarnings)
	}

	o, err = parseOptions("serve", []string{"--auth", "none", "--cluster-secret", "on-the-command-line"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if o.ClusterSecret != "on-the-command-line" || len(o.secretWarnings) != 1 || !strings.Contains(o.secretWarnings[0], "--cluster-secret was given on the command line") {
		t.Fatalf("command-line secret: %q, warnings %q", o.ClusterSecret, o.secretWarnings)
	}

	t.Setenv("ENGINE_CLUSTER_SECRET", "from-the-environment")
	o, err = parseOptions("serve", []string{"--auth", "none"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if o.ClusterSecret != "from-the-environment" || len(o.secretWarnings) != 0 {
		t.Fatalf("environment secret: %q, warnings %q", o.ClusterSecret, o.secretWarnings)
	}
	_, err = parseOptions("serve", []string{"--auth", "none", "--cluster-secret-file", cluster}, false)
	if err == nil || !strings.Contains(err.Error(), "ENGINE_CLUSTER_SECRET") {
		t.Fatalf("secret in the environment and a file: %v", err)
	}
	t.Setenv("ENGINE_CLUSTER_SECRET", "")
	if _, err := parseOptions("serve", []string{"--auth", "none", "--cluster-secret-file", write("empty", "\n", 0o600)}, false); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty secret file: %v", err)
	}
}

// TestSecretsInit: `engine secrets init` writes a key only its owner reads, which loads, and
// never overwrites a file.
func TestSecretsInit(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "secrets.key")
	if err := secrets([]string{"init", "--out", out}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	if k, err := loadKeyring(out); err != nil || k == nil {
		t.Fatalf("load the new key: %v", err)
	}
	before, _ := os.ReadFile(out)
	if err := secrets([]string{"init", "--out", out}); err == nil {
		t.Fatal("an existing key file was overwritten")
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Fatal("the existing key changed")
	}
	for _, args := range [][]string{nil, {"init"}, {"rotate", "--out", out}} {
		if err := secrets(args); err == nil {
			t.Errorf("secrets %q accepted", args)
		}
	}
}

// TestPprofAddressForms: --pprof-addr in the forms people type. Loopback is served; every
// interface, another host or a name other than localhost is refused with an error that names
// the flag and says what to give.
func TestPprofAddressForms(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"localhost:6060", "127.0.0.1:6060", "[::1]:6060", "127.0.0.1:0", "127.1.2.3:6060"} {
		if err := checkPprofAddr(ok); err != nil {
			t.Errorf("--pprof-addr %q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{":6060", "0.0.0.0:6060", "[::]:6060", "10.0.0.1:6060", "example.com:6060", "[fe80::1]:6060", "6060", "localhost"} {
		err := checkPprofAddr(bad)
		switch {
		case err == nil:
			t.Errorf("--pprof-addr %q accepted", bad)
		case !errors.Is(err, errNotLoopback) || !errors.Is(err, errkind.BadRequest):
			t.Errorf("--pprof-addr %q: %v is not an errNotLoopback", bad, err)
		case !strings.Contains(err.Error(), "--pprof-addr") || !strings.Contains(err.Error(), "127.0.0.1"):
			t.Errorf("--pprof-addr %q: the error does not name the flag and a loopback example: %v", bad, err)
		}
	}
	// The listener is checked too: it serves, and says where.
	var logs testutil.LockedBuffer
	stop, err := servePprof("localhost:0", hclog.New(&hclog.LoggerOptions{Output: &logs}))
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if !strings.Contains(logs.String(), "pprof listening") {
		t.Fatalf("no pprof log line: %s", logs.String())
	}
}

// TestJWTClaimsWithASecretFile: --jwt-issuer and --jwt-audience count a secret read from
// --jwt-secret-file as the key they are checked with.
func TestJWTClaimsWithASecretFile(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "jwt")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef-jwt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := parseOptions("serve", []string{"--auth", "keys", "--jwt-secret-file", secret, "--jwt-issuer", "POS", "--jwt-audience", "engine.example.com"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authenticator(o); err != nil {
		t.Fatal(err)
	}
	if _, err := parseOptions("serve", []string{"--auth", "none", "--jwt-audience", "engine.example.com"}, false); err == nil || !strings.Contains(err.Error(), "--jwt-secret-file") {
		t.Fatalf("an audience without a key: %v", err)
	}
}

// TestAuthorityNamesConfiguration: without --public-url the authority document names the
// advertised HTTP address (or, for port 0, whatever the server bound), never a request's Host.
func TestAuthorityNamesConfiguration(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args   []string
		public string
		domain string
	}{
		{[]string{"--public-url", "https://engine.example.com/"}, "https://engine.example.com", ""},
		{[]string{"--public-url", "http://10.0.0.1:8080/placeos"}, "http://10.0.0.1:8080/placeos", ""},
		{[]string{"--http-addr", "127.0.0.1:8080", "--advertise-http", "10.0.0.1:8080"}, "", "10.0.0.1:8080"},
		{[]string{"--http-addr", "127.0.0.1:8080"}, "", "127.0.0.1:8080"},
		{[]string{"--http-addr", "127.0.0.1:0"}, "", ""},
	} {
		o, err := parseOptions("serve", append([]string{"--auth", "none"}, tt.args...), false)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if a := authority(o); a.PublicURL != tt.public || a.Domain != tt.domain {
			t.Errorf("%v: authority %+v, want public URL %q and domain %q", tt.args, a, tt.public, tt.domain)
		}
	}
}

// TestEnvErrorsNameTheVariable: a bad value from the environment is reported under the variable
// that set it, and a bad boolean says what is accepted.
func TestEnvErrorsNameTheVariable(t *testing.T) {
	for _, c := range []struct {
		env, value string
		want       []string
	}{
		{"ENGINE_LOG_LEVEL", "verbose", []string{"--log-level must be", "ENGINE_LOG_LEVEL sets --log-level"}},
		{"ENGINE_BOOTSTRAP", "maybe", []string{`ENGINE_BOOTSTRAP="maybe"`, "want true or false"}},
	} {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv(c.env, c.value)
			_, err := parseOptions("serve", []string{"--auth", "none"}, false)
			if err == nil {
				t.Fatalf("%s=%s accepted", c.env, c.value)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("%s=%s: %q does not say %q", c.env, c.value, err, w)
				}
			}
		})
	}
	// Given on the command line as well, the flag wins: no variable is blamed.
	t.Setenv("ENGINE_LOG_LEVEL", "info")
	if _, err := parseOptions("serve", []string{"--auth", "none", "--log-level", "loud"}, false); err == nil || strings.Contains(err.Error(), "ENGINE_LOG_LEVEL") {
		t.Fatalf("--log-level loud with ENGINE_LOG_LEVEL=info: %v", err)
	}
}

// TestLabelsAndVoterForms: --labels and ENGINE_LABELS in the forms people type, refusals that say
// what is wrong, and --voter's forms (Go's `--voter false` leaves "false" as an argument: the
// refusal says to write --voter=false).
func TestLabelsAndVoterForms(t *testing.T) {
	base := []string{"--auth", "none"}
	for _, tt := range []struct {
		args   []string
		env    string
		labels string
		voter  bool
	}{
		{args: nil, labels: "", voter: true},
		{args: []string{"--labels", "site=hq,floor=3"}, labels: "floor=3,site=hq", voter: true},
		{args: []string{"--labels=site=hq, floor=3", "--voter=false"}, labels: "floor=3,site=hq", voter: false},
		{args: []string{"--voter=0"}, voter: false},
		{args: []string{"--voter"}, voter: true},
		{env: "site = b", labels: "site=b", voter: true},
		{args: []string{"--labels", "site=a"}, env: "site=b", labels: "site=a", voter: true},
	} {
		t.Setenv("ENGINE_LABELS", tt.env)
		o, err := parseOptions("serve", append(slices.Clone(base), tt.args...), false)
		if err != nil {
			t.Fatalf("%q (ENGINE_LABELS=%q): %v", tt.args, tt.env, err)
		}
		if o.Labels.String() != tt.labels || o.Voter != tt.voter {
			t.Fatalf("%q (ENGINE_LABELS=%q): labels %q voter %v, want %q %v", tt.args, tt.env, o.Labels, o.Voter, tt.labels, tt.voter)
		}
	}
	t.Setenv("ENGINE_LABELS", "")
	for _, tt := range []struct {
		args []string
		env  string
		says string
	}{
		{args: []string{"--labels", "site"}, says: `"site" has no '='`},
		{args: []string{"--labels", "=hq"}, says: "empty key"},
		{args: []string{"--labels", "site=hq,site=b"}, says: `key "site" is given twice`},
		{args: []string{"--labels", "site=h q"}, says: `site="h q"`},
		{env: "floor=", says: `ENGINE_LABELS="floor="`},
		{args: []string{"--voter", "false"}, says: "a true/false flag takes its value after '=', e.g. --voter=false"},
		{args: []string{"--voter=no"}, says: "voter"},
		{args: []string{"--voter=false", "--bootstrap"}, says: "a non-voter cannot start a cluster"},
	} {
		t.Setenv("ENGINE_LABELS", tt.env)
		_, err := parseOptions("serve", append(slices.Clone(base), tt.args...), false)
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Fatalf("%q (ENGINE_LABELS=%q): error %v, want one saying %q", tt.args, tt.env, err, tt.says)
		}
	}
}

// TestDriverSpareForms: --driver-spare and ENGINE_DRIVER_SPARE as people type them; `--driver-spare
// false` is refused with the form to write.
func TestDriverSpareForms(t *testing.T) {
	base := []string{"--auth", "none"}
	for _, tt := range []struct {
		args []string
		env  string
		want bool
	}{
		{want: true},
		{args: []string{"--driver-spare=false"}, want: false},
		{args: []string{"--driver-spare=0"}, want: false},
		{args: []string{"--driver-spare=FALSE"}, want: false},
		{args: []string{"--driver-spare"}, want: true},
		{env: "false", want: false},
		{args: []string{"--driver-spare=true"}, env: "false", want: true},
	} {
		setOrUnset(t, "ENGINE_DRIVER_SPARE", tt.env)
		o, err := parseOptions("serve", append(slices.Clone(base), tt.args...), false)
		if err != nil {
			t.Fatalf("%q (ENGINE_DRIVER_SPARE=%q): %v", tt.args, tt.env, err)
		}
		if o.DriverSpare != tt.want {
			t.Fatalf("%q (ENGINE_DRIVER_SPARE=%q): spare %v, want %v", tt.args, tt.env, o.DriverSpare, tt.want)
		}
	}
	for _, tt := range []struct {
		args []string
		env  string
		says string
	}{
		{args: []string{"--driver-spare", "false"}, says: "a true/false flag takes its value after '=', e.g. --driver-spare=false"},
		{args: []string{"--driver-spare=off"}, says: "driver-spare"},
		{env: "no", says: "ENGINE_DRIVER_SPARE"},
	} {
		setOrUnset(t, "ENGINE_DRIVER_SPARE", tt.env)
		_, err := parseOptions("serve", append(slices.Clone(base), tt.args...), false)
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Fatalf("%q (ENGINE_DRIVER_SPARE=%q): error %v, want one saying %q", tt.args, tt.env, err, tt.says)
		}
	}
}

// setOrUnset sets the environment variable name to v for the test, or unsets it for v "".
func setOrUnset(t *testing.T, name, v string) {
	t.Setenv(name, v) // restored after the test
	if v == "" {
		_ = os.Unsetenv(name)
	}
}

// --driver-dir as people type it (".", "bin/drivers", "./x/") is made absolute: a relative one
// would make a driver's path a bare name ("display"), which exec looks up in $PATH, and tie it to
// the working directory.
func TestDriverDirAbsolute(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{".": wd, "bin/drivers": filepath.Join(wd, "bin/drivers"), "./x/": filepath.Join(wd, "x"), "/opt/drivers": "/opt/drivers"} {
		o, err := parseOptions("serve", []string{"--auth", "none", "--driver-dir", in}, false)
		if err != nil {
			t.Fatal(err)
		}
		if o.DriverDir != want {
			t.Errorf("--driver-dir %q: %q, want %q", in, o.DriverDir, want)
		}
	}
}
