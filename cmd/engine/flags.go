package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/core"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpapi"
	"github.com/placeos-go/engine/placement"
)

// options are the flags of `engine serve` and `engine dev` (docs/protocol.md §1).
type options struct {
	NodeID        string
	DataDir       string
	HTTPAddr      string
	RaftAddr      string
	AdvertiseHTTP string
	AdvertiseRaft string
	Bootstrap     bool
	Join          string   // as given: a comma list of members' cluster ports
	joinAddrs     []string // Join read as host:port, this node's own address left out
	// Labels place modules with a placement constraint (--labels site=hq,floor=3).
	Labels placement.Labels
	// Voter: false joins the cluster as a Raft non-voter (a remote site's node).
	Voter bool
	// StopWhenCutOff stops this node's modules while no leader reaches it (core.Config).
	StopWhenCutOff bool
	ClusterSecret  string
	TLSCA          string
	TLSCert        string
	TLSKey         string
	// InsecureCluster allows a cluster port beyond loopback without TLS.
	InsecureCluster bool
	HTTPTLSCert     string
	HTTPTLSKey      string
	Auth            string
	APIKeys         string
	JWTSecret       string
	JWTPublicKey    string
	GitCreds        string
	SDKDir          string
	KeepBinaries    time.Duration
	RedisSweep      time.Duration
	RaftScale       float64
	Redis           string
	Model           string
	LogLevel        string
	LogFormat       string
	DriverDir       string
	ExecTimeout     time.Duration
	// DriverStableAfter is how long a driver process must run for its restarts to be history.
	DriverStableAfter time.Duration
	// DriverSpare keeps each driver a spare process that takes over when its process exits.
	DriverSpare bool
	PprofAddr   string
	// Runtime settings of the engine process (runtime.go).
	GCPercent   gcPercentFlag
	MemoryLimit memoryLimitFlag
	MaxProcs    maxProcsFlag
	// DriverMaxProcs is --driver-gomaxprocs: GOMAXPROCS of every driver process (runtime.go).
	DriverMaxProcs maxProcsFlag
	// driverEnv is the Go runtime settings of the driver processes, as applyRuntime chose them
	// (runtimeChoice.driverEnv), for their environment.
	driverEnv []string
	// DriverMemoryLimit is every driver process's memory limit in bytes (0: none) unless its
	// driver sets memory_limit.
	DriverMemoryLimit driverMemoryLimitFlag
	Displays          int // dev only: how many simulated displays
	// Dev only: a driver folder built, run in the demo room and rebuilt on every save
	// (devwatch.go), and its module's fields.
	Watch       string
	WatchModule string
	watchSpec   watchSpec

	// Secrets (docs/protocol.md §1.4): files keep them out of ps and /proc/<pid>/cmdline.
	ClusterSecretFile string
	JWTSecretFile     string
	SecretsKeyFile    string
	// secretWarnings are logged once the logger exists (secrets on the command line, files
	// others may read).
	secretWarnings []string
	// warnings are the other WARN lines flags deserve, logged with secretWarnings.
	warnings []string

	// Bounded resources (docs/protocol.md §6.1, §7.7).
	HTTPReadTimeout      time.Duration
	HTTPWriteTimeout     time.Duration
	HTTPIdleTimeout      time.Duration
	HTTPMaxConns         int
	HTTPMaxConnsPerIP    int
	WSMaxBinds           int
	WSMaxSessionsPerUser int
	WSMaxSessions        int
	// Per-driver limits (driverlimits.go).
	DriverStatusRate       rateFlag
	DriverCallRate         rateFlag
	DriverMaxSubscriptions countFlag

	// AllowedOrigins: browser origins besides the node's own whose pages may send
	// cookie-authenticated writes and WebSocket upgrades (--allowed-origins; docs/protocol.md §8.5).
	AllowedOrigins httpapi.Origins

	// What bearer tokens must claim, and the URL GET /auth/authority names (checkExposure).
	JWTIssuer   string
	JWTAudience string
	PublicURL   string
}

func parseOptions(name string, args []string, dev bool) (*options, error) {
	o := &options{}
	fs := o.flagSet(name, dev)
	// Environment first, so that flags given on the command line win.
	var envErr error
	fromEnv := map[string]string{} // flag name → the variable that set it
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
					err = errors.New("want true or false (or 1, 0)")
				}
				envErr = fmt.Errorf("%s=%q: %w", env, v, err)
			}
			fromEnv[f.Name] = env
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := boolValueApart(fs, args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { delete(fromEnv, f.Name) }) // the command line won
	if err := o.check(fs); err != nil {
		// The checks name flags; say so when the value came from the environment.
		for name, env := range fromEnv {
			if strings.Contains(err.Error(), "--"+name+" ") {
				return nil, fmt.Errorf("%w (%s sets --%s)", err, env, name)
			}
		}
		return nil, err
	}
	return o, nil
}

// boolValueApart refuses `--voter false`: Go reads a true/false flag alone and its value as the
// first argument, where the flags end. The refusal shows the form to write, with the flag given.
func boolValueApart(fs *flag.FlagSet, args []string) error {
	n := fs.NArg()
	if n == 0 || n == len(args) {
		return nil
	}
	a := strings.ToLower(fs.Arg(0))
	if a != "false" && a != "true" {
		return nil
	}
	name := strings.TrimLeft(args[len(args)-n-1], "-")
	if f := fs.Lookup(name); f != nil {
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			return &usageError{command: fs.Name(), err: fmt.Errorf("unexpected argument %q: a true/false flag takes its value after '=', e.g. --%s=%s", fs.Arg(0), name, a)}
		}
	}
	return nil
}

// envName is the environment variable a flag is also read from: --http-addr → ENGINE_HTTP_ADDR.
func envName(flagName string) string {
	return "ENGINE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// flagSet declares the flags of `engine serve` (or `engine dev`) into o.
func (o *options) flagSet(name string, dev bool) *flag.FlagSet {
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("engine "+name, flag.ContinueOnError)
	fs.StringVar(&o.NodeID, "node-id", host, "unique, stable node name")
	dataDir, raftAddr := "./data", "127.0.0.1:7000"
	if dev {
		dataDir, raftAddr = "./data/dev", "127.0.0.1:0"
	}
	fs.StringVar(&o.DataDir, "data-dir", dataDir, "Raft log/snapshots, repositories, built binaries, pid files")
	fs.StringVar(&o.HTTPAddr, "http-addr", "127.0.0.1:8080", "client and management API address")
	fs.StringVar(&o.RaftAddr, "raft-addr", raftAddr, "cluster port: Raft and node-to-node calls, mutual TLS")
	fs.StringVar(&o.AdvertiseHTTP, "advertise-http", "", "API address clients are sent to for this node (default: --http-addr)")
	fs.StringVar(&o.AdvertiseRaft, "advertise-raft", "", "cluster port address other nodes dial (default: --raft-addr)")
	fs.BoolVar(&o.Bootstrap, "bootstrap", dev, "start a new cluster with this node as its first voter (ignored when state exists)")
	fs.StringVar(&o.Join, "join", "", "cluster port (--raft-addr) of a member to join through, or a comma list of them")
	fs.Func("labels", "this node's labels, which placement constraints select nodes by: key=value,key=value (e.g. site=hq,floor=3)",
		func(v string) (err error) { o.Labels, err = placement.ParseLabels(v); return err })
	fs.BoolVar(&o.Voter, "voter", true, "vote in the cluster's Raft quorum; --voter=false joins as a non-voter (a remote site: hosts modules, never votes)")
	fs.StringVar(&o.ClusterSecret, "cluster-secret", "", "without TLS: shared secret every node-to-node call carries")
	fs.StringVar(&o.TLSCA, "tls-ca", "", "the cluster CA certificate (PEM), from `engine tls init`")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "this node's certificate (PEM)")
	fs.StringVar(&o.TLSKey, "tls-key", "", "this node's private key (PEM)")
	fs.BoolVar(&o.InsecureCluster, "insecure-cluster", false, "allow a cluster port beyond loopback without TLS (anyone who reaches it is a node)")
	fs.BoolVar(&o.StopWhenCutOff, "stop-when-cut-off", true, "stop this node's modules once no leader has reached it for as long as the others wait before moving them (no module runs twice); --stop-when-cut-off=false keeps them running")
	fs.StringVar(&o.HTTPTLSCert, "http-tls-cert", "", "serve the client API over HTTPS with this certificate (PEM, any CA)")
	fs.StringVar(&o.HTTPTLSKey, "http-tls-key", "", "the key of --http-tls-cert (PEM)")
	authDefault := "keys"
	if dev {
		authDefault = "none"
	}
	fs.StringVar(&o.Auth, "auth", authDefault, "keys (API keys + JWT) or none (every caller is admin; loopback only)")
	fs.StringVar(&o.APIKeys, "api-keys", "", `YAML file of API keys: - {key: "...", user_id: "...", role: user|support|admin}`)
	fs.StringVar(&o.JWTSecret, "jwt-secret", "", "HS256 secret for bearer tokens")
	fs.StringVar(&o.JWTPublicKey, "jwt-public-key", "", "RS256/ES256 public key file (PEM) for bearer tokens")
	fs.StringVar(&o.GitCreds, "git-credentials", "", "YAML file of credentials for private driver repositories")
	fs.StringVar(&o.SDKDir, "sdk-dir", "", "engine source the driver builds use for github.com/placeos-go/engine (default: the source this binary was built from, as engine version shows)")
	durationVar(fs, &o.KeepBinaries, "keep-binaries", 24*time.Hour, "how long a built driver binary no module uses is kept (0: forever)")
	durationOffVar(fs, &o.RedisSweep, "redis-sweep", 5*time.Minute, "how often the leader deletes what Redis holds of modules and systems no longer in the model (0 or off: never)")
	fs.Float64Var(&o.RaftScale, "raft-timeout-scale", 1, "multiplier of the LAN-tuned Raft timeouts (use 2-5 on slow networks)")
	redisDefault := "redis://127.0.0.1:6379/0"
	if dev {
		redisDefault = "embedded"
	}
	fs.StringVar(&o.Redis, "redis", redisDefault, `Redis URL; "embedded" starts an in-process server (development only)`)
	fs.StringVar(&o.Model, "model", "", "model file (YAML or JSON) applied once at start-up")
	fs.StringVar(&o.LogLevel, "log-level", "info", "trace, debug, info, warn (or warning) or error, in any case")
	fs.StringVar(&o.LogFormat, "log-format", "text", "text or json")
	fs.StringVar(&o.DriverDir, "driver-dir", "", "directory that relative driver binary paths are resolved against (default: beside the engine binary)")
	durationVar(fs, &o.ExecTimeout, "exec-timeout", core.DefaultExecTimeout, "longest an execute may take; callers may ask for less")
	durationVar(fs, &o.DriverStableAfter, "driver-stable-after", time.Minute, "how long a relaunched driver process must run before its restarts are forgotten: the backoff resets, module reads drop the restart note")
	fs.BoolVar(&o.DriverSpare, "driver-spare", true, "keep each driver one idle spare process, launched once its process has run --driver-stable-after, which takes the modules over at once when that process exits; --driver-spare=false launches a new process then")
	fs.StringVar(&o.PprofAddr, "pprof-addr", "", "serve net/http/pprof on this (loopback) address; off when empty")
	o.GCPercent, o.MemoryLimit, o.MaxProcs, o.DriverMaxProcs = gcPercentFlag{"auto"}, memoryLimitFlag{"auto"}, maxProcsFlag{"auto"}, maxProcsFlag{"auto"}
	fs.Var(&o.GCPercent, "gc-percent", "garbage collector target, as GOGC: a percentage, off, or auto (Go's 100, raised while the live heap is small; GOGC when set)")
	fs.Var(&o.MemoryLimit, "memory-limit", "soft limit of the engine's Go memory, as GOMEMLIMIT (512MiB, 2GiB), a percentage of the machine's (25%), off, or auto (chosen from the machine; GOMEMLIMIT when set)")
	o.DriverMemoryLimit = driverMemoryLimitFlag{v: defaultDriverMemoryLimit}
	fs.Var(&o.DriverMemoryLimit, "driver-memory-limit", "memory limit of each driver process: binary units in any case (512M, 512MiB, 1G, 1GiB), decimal ones (512MB = 512,000,000 bytes), or off; a driver's memory_limit overrides it")
	fs.Var(&o.MaxProcs, "gomaxprocs", "CPUs running the engine's Go code at once, as GOMAXPROCS: a number, or auto (chosen from the machine; GOMAXPROCS when set)")
	fs.Var(&o.DriverMaxProcs, "driver-gomaxprocs", "CPUs running each driver process's Go code at once, as GOMAXPROCS in its environment: a number, or auto (chosen from the machine)")
	if dev {
		fs.IntVar(&o.Displays, "displays", 2, "number of simulated displays in the demo system")
		fs.StringVar(&o.Watch, "watch", "", "driver folder to build, run as a module of the demo room and rebuild on every save")
		fs.StringVar(&o.WatchModule, "watch-module", "", "YAML or JSON of the watched module: its driver's module_name and role, and a model file's module fields (ip, port, uri, settings, ...)")
	}
	fs.StringVar(&o.ClusterSecretFile, "cluster-secret-file", "", "file holding --cluster-secret (kept out of ps)")
	fs.StringVar(&o.JWTSecretFile, "jwt-secret-file", "", "file holding --jwt-secret (kept out of ps)")
	fs.StringVar(&o.SecretsKeyFile, "secrets-key-file", "", "key that encrypts protected settings: 32 random bytes as 64 hex digits, the same on every node (engine secrets init)")
	durationVar(fs, &o.HTTPReadTimeout, "http-read-timeout", httpapi.DefaultReadTimeout, "longest reading a request may take, body included (not a WebSocket once upgraded)")
	durationVar(fs, &o.HTTPWriteTimeout, "http-write-timeout", 0, "longest a response may take from the start of its request (0: --exec-timeout + 1m)")
	durationVar(fs, &o.HTTPIdleTimeout, "http-idle-timeout", httpapi.DefaultIdleTimeout, "how long a keep-alive connection may wait for its next request")
	fs.IntVar(&o.HTTPMaxConns, "http-max-conns", httpapi.DefaultMaxConns, "most open HTTP connections, WebSocket sessions included (lowered to fit the open-files limit)")
	fs.IntVar(&o.HTTPMaxConnsPerIP, "http-max-conns-per-ip", 0, "most open HTTP connections from one address or IPv6 /64 (0: half of --http-max-conns)")
	fs.IntVar(&o.WSMaxBinds, "ws-max-binds", httpapi.WSMaxBinds, "most status bindings one WebSocket session may hold")
	fs.IntVar(&o.WSMaxSessionsPerUser, "ws-max-sessions-per-user", httpapi.WSMaxSessionsPerUser, "most WebSocket sessions one user may hold on this node")
	fs.IntVar(&o.WSMaxSessions, "ws-max-sessions", httpapi.WSMaxSessions, "most WebSocket sessions on this node")
	o.driverLimitFlags(fs)
	fs.Func("allowed-origins", "comma list of scheme://host[:port] whose pages may send cookie-authenticated writes and WebSocket upgrades, besides the node's own",
		func(v string) (err error) { o.AllowedOrigins, err = httpapi.ParseOrigins(v); return err })
	fs.StringVar(&o.JWTIssuer, "jwt-issuer", "", `bearer tokens must carry this "iss" (checked when set)`)
	fs.StringVar(&o.JWTAudience, "jwt-audience", "", `bearer tokens must list this in "aud" (checked when set)`)
	fs.StringVar(&o.PublicURL, "public-url", "", "URL clients reach the engine at, e.g. https://engine.example.com (named by GET /auth/authority)")
	return fs
}

// check refuses what cannot work once the flags are parsed, and fills the defaults that depend
// on other flags.
func (o *options) check(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return &usageError{command: fs.Name(), err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if err := o.readSecrets(fs); err != nil {
		return err
	}
	switch o.Auth {
	case "none":
		if err := httpapi.LoopbackOnly(o.HTTPAddr); err != nil {
			return err
		}
	case "keys":
		if o.APIKeys == "" && o.JWTSecret == "" && o.JWTPublicKey == "" {
			return auth.ErrNoCredentialSource
		}
	default:
		return errkind.Wrap(errBadFlag, nil, "--auth must be keys or none, not %q", o.Auth)
	}
	level, err := logLevel(o.LogLevel)
	if err != nil {
		return err
	}
	o.LogLevel = level
	if o.LogFormat != "text" && o.LogFormat != "json" {
		return errkind.Wrap(errBadFlag, nil, "--log-format must be text or json, not %q", o.LogFormat)
	}
	if o.ExecTimeout <= 0 {
		return errkind.Wrap(errBadFlag, nil, "--exec-timeout must be positive, not %s", o.ExecTimeout)
	}
	if o.DriverStableAfter <= 0 {
		return errkind.Wrap(errBadFlag, nil, "--driver-stable-after must be positive, not %s", o.DriverStableAfter)
	}
	if err := o.checkLimits(); err != nil {
		return err
	}
	if strings.TrimSpace(o.Join) != "" {
		addrs, err := memberAddrs(o.Join)
		if err != nil {
			return err
		}
		// A list given alike to every node names this one too: it does not join itself.
		for _, a := range addrs {
			if a != o.RaftAddr && a != o.AdvertiseRaft {
				o.joinAddrs = append(o.joinAddrs, a)
			}
		}
	}
	if err := o.checkCluster(); err != nil {
		return err
	}
	if !o.Voter && o.Bootstrap {
		return errkind.Wrap(errBadFlag, nil, "--voter=false with --bootstrap: a non-voter cannot start a cluster; bootstrap a voter and --join this node to it")
	}
	o.warnings = append(o.warnings, joinSchemeWarnings(o.Join, o.tlsFiles())...)
	if err := o.checkExposure(); err != nil {
		return err
	}
	if err := o.checkWatch(); err != nil {
		return err
	}
	// Defaults that depend on other flags or on where the binary is.
	if o.DriverDir == "" {
		o.DriverDir = defaultDriverDir()
	}
	// Absolute, so that a driver's path never depends on the working directory: `--driver-dir .`
	// would make "display" a bare name, which exec looks up in $PATH.
	if abs, err := filepath.Abs(o.DriverDir); err == nil {
		o.DriverDir = abs
	}
	if o.AdvertiseHTTP == "" {
		o.AdvertiseHTTP = o.HTTPAddr
	}
	if o.SDKDir == "" {
		o.SDKDir = engineSource()
	} else if abs, err := filepath.Abs(o.SDKDir); err == nil {
		// engine dev names it as a repository URI, which must be an absolute path (§2.3).
		o.SDKDir = abs
	}
	return nil
}

// logLevel reads --log-level as people type it (any case, "warning" for warn) and returns the
// name hclog and the drivers' ENGINE_DRIVER_LOG_LEVEL read; anything else is refused rather than
// silently logging at no level.
func logLevel(s string) (string, error) {
	switch l := strings.ToLower(strings.TrimSpace(s)); l {
	case "trace", "debug", "info", "warn", "error":
		return l, nil
	case "warning":
		return "warn", nil
	}
	return "", errkind.Wrap(errBadFlag, nil, "--log-level must be trace, debug, info, warn (or warning) or error, not %q", s)
}

// checkLimits refuses limits that would disable themselves, and derives --http-write-timeout.
func (o *options) checkLimits() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--http-read-timeout", o.HTTPReadTimeout}, {"--http-idle-timeout", o.HTTPIdleTimeout}} {
		if d.v <= 0 {
			return errkind.Wrap(errBadFlag, nil, "%s must be positive, not %s", d.flag, d.v)
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--keep-binaries", o.KeepBinaries}, {"--redis-sweep", o.RedisSweep}} {
		if d.v < 0 {
			return errkind.Wrap(errBadFlag, nil, "%s must be 0 (never) or positive, not %s", d.flag, d.v)
		}
	}
	if o.HTTPWriteTimeout == 0 {
		o.HTTPWriteTimeout = o.ExecTimeout + time.Minute
	}
	if o.HTTPWriteTimeout <= o.ExecTimeout {
		return errkind.Wrap(errBadFlag, nil, "--http-write-timeout (%s) must be longer than --exec-timeout (%s), or executes are cut off", o.HTTPWriteTimeout, o.ExecTimeout)
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"--http-max-conns", o.HTTPMaxConns}, {"--ws-max-binds", o.WSMaxBinds}, {"--ws-max-sessions-per-user", o.WSMaxSessionsPerUser}, {"--ws-max-sessions", o.WSMaxSessions}} {
		if n.v <= 0 {
			return errkind.Wrap(errBadFlag, nil, "%s must be positive, not %d", n.flag, n.v)
		}
	}
	if o.HTTPMaxConnsPerIP < 0 {
		return errkind.Wrap(errBadFlag, nil, "--http-max-conns-per-ip must be 0 (half of --http-max-conns) or positive, not %d", o.HTTPMaxConnsPerIP)
	}
	return nil
}

// checkCluster refuses a cluster port that anyone could join: beyond loopback it needs the
// cluster's certificates, or --insecure-cluster said on purpose; without certificates a cluster
// with --auth keys needs at least the cluster secret on its node-to-node calls.
func (o *options) checkCluster() error {
	set := 0
	for _, f := range []string{o.TLSCA, o.TLSCert, o.TLSKey} {
		if f != "" {
			set++
		}
	}
	if (o.HTTPTLSCert == "") != (o.HTTPTLSKey == "") {
		return errkind.Wrap(errBadFlag, nil, "--http-tls-cert and --http-tls-key go together")
	}
	switch {
	case set == 3:
		return nil
	case set > 0:
		return errkind.Wrap(errBadFlag, nil, "--tls-ca, --tls-cert and --tls-key go together (make them with `engine tls init`)")
	}
	for _, a := range []string{o.RaftAddr, o.AdvertiseRaft} {
		if a != "" && httpapi.LoopbackOnly(a) != nil && !o.InsecureCluster {
			return errkind.Wrap(errBadFlag, nil, "cluster port %q is not loopback and has no TLS: give --tls-ca, --tls-cert and --tls-key "+
				"(`engine tls init` makes them), or --insecure-cluster to accept that anyone who reaches it is a node", a)
		}
	}
	if len(o.joinAddrs) > 0 && o.Auth == "keys" && o.ClusterSecret == "" {
		return errkind.Wrap(errBadFlag, nil, "a cluster with --auth keys needs TLS (--tls-ca, --tls-cert, --tls-key) or at least --cluster-secret")
	}
	return nil
}

// tlsFiles reports whether the cluster port runs mutual TLS.
func (o *options) tlsFiles() bool { return o.TLSCA != "" }

// joinSchemeWarnings names the --join URLs whose scheme says otherwise than the cluster port
// does: https without cluster TLS, http with it. The scheme is dropped either way (the node
// dials with TLS exactly when it has the cluster's certificates), but a scheme that disagrees is
// most likely a sign of a configuration copied from another cluster.
func joinSchemeWarnings(join string, tls bool) []string {
	var out []string
	for _, part := range strings.Split(join, ",") {
		scheme, _, ok := strings.Cut(strings.TrimSpace(part), "://")
		switch {
		case !ok:
		case strings.EqualFold(scheme, "https") && !tls:
			out = append(out, fmt.Sprintf("--join %s says https, but this node has no cluster TLS (--tls-ca, --tls-cert, --tls-key): "+
				"it dials that member without TLS", strings.TrimSpace(part)))
		case strings.EqualFold(scheme, "http") && tls:
			out = append(out, fmt.Sprintf("--join %s says http, but this node's cluster port runs TLS: it dials that member with TLS",
				strings.TrimSpace(part)))
		}
	}
	return out
}

// memberAddr reads --join: a member's cluster port as host:port, or as a URL (http:// or
// https://host:port/), which people type too.
func memberAddr(s string) (string, error) {
	addr := strings.TrimSpace(s)
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		if !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
			return "", errkind.Wrap(errBadFlag, nil, "--join %q: want the member's cluster port as host:port, not a %s URL", s, scheme)
		}
		addr = rest
	}
	addr = strings.TrimSuffix(addr, "/")
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || strings.ContainsAny(addr, "/?#@") {
		return "", errkind.Wrap(errBadFlag, nil, "--join %q: want the cluster port (--raft-addr) of a member as host:port, e.g. 10.0.0.1:7000", s)
	}
	return addr, nil
}

// checkExposure refuses flags that would expose more than the operator meant: a profiler beyond
// loopback, token claims to check without a token key (the check would silently not happen), a
// public URL front-ends could not use.
func (o *options) checkExposure() error {
	if o.PublicURL != "" {
		u, err := url.Parse(o.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(u.Host, ":") {
			return errkind.Wrap(errBadFlag, nil, "--public-url %q: want the http(s) URL clients reach the engine at, e.g. https://engine.example.com (no user, query or fragment)", o.PublicURL)
		}
		o.PublicURL = strings.TrimSuffix(u.String(), "/")
	}
	if o.PprofAddr != "" {
		if err := checkPprofAddr(o.PprofAddr); err != nil {
			return err
		}
	}
	if (o.JWTIssuer != "" || o.JWTAudience != "") && o.JWTSecret == "" && o.JWTPublicKey == "" {
		return errkind.Wrap(errBadFlag, nil, "--jwt-issuer and --jwt-audience are checked on bearer tokens: give --jwt-secret (or --jwt-secret-file) or --jwt-public-key too")
	}
	return nil
}
