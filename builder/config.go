package builder

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/metrics"
)

// Config configures a Builder. Only DataDir is required.
type Config struct {
	// DataDir is the node's data directory; the builder owns its repositories/, drivers/ and
	// builds/ folders.
	DataDir string
	// SDKDir is the root of the engine's own module source (the folder with its go.mod). Every
	// build replaces github.com/placeos-go/engine with it, so drivers compile against the
	// engine's sdk without fetching it. Empty: no replace (the engine module is fetched like any
	// other dependency).
	SDKDir string
	// Logger; Named("builder") is applied.
	Logger hclog.Logger

	// GoBin is the go tool; default: "go" looked up in PATH when New runs.
	GoBin string
	// GOPROXY for builds; default: this process's GOPROXY, else https://proxy.golang.org,direct.
	// "off" makes builds fail rather than touch the network.
	GOPROXY string
	// GOCACHE and GOMODCACHE for builds; default: the go tool's own (`go env`), so the modules the
	// engine itself was built with (the SDK's dependencies) are already there and builds stay
	// offline, and the compile cache is shared.
	GOCACHE, GOMODCACHE string
	// Env are extra KEY=VALUE entries for builds (GOPRIVATE, GONOSUMDB, GOSUMDB, GOINSECURE, ...);
	// they override the defaults.
	Env []string

	// MaxParallel bounds concurrent builds; default max(1, NumCPU/2) since go build is itself
	// parallel.
	MaxParallel int
	// BuildTimeout bounds one build; default 5 minutes.
	BuildTimeout time.Duration
	// FailureRetry is how long a failed build of one commit is answered from its recorded
	// failure before compiling again (Rebuild skips it); default 5 minutes.
	FailureRetry time.Duration

	// FetchInterval is how often tracked repositories are fetched; default 5 minutes, negative
	// disables periodic fetches (Sync still fetches on demand).
	FetchInterval time.Duration
	// RetryMin and RetryMax bound the exponential backoff of failed clones and fetches; default
	// 2 s and 5 minutes.
	RetryMin, RetryMax time.Duration
	// GitTimeout bounds one clone or fetch; default 10 minutes.
	GitTimeout time.Duration
	// GitStallTimeout bounds the silence of a git server over HTTP(S): a clone or fetch fails
	// (ErrGitStalled) when the server sends nothing for this long (no connection, no answer, no
	// next byte), however long the whole transfer takes; default 60 s. SSH and git:// are
	// bounded by GitTimeout alone.
	GitStallTimeout time.Duration

	// MaxFileBytes bounds one file a build exports and one object a clone or fetch may bring
	// (go-git holds an object whole while it indexes a pack, so this bounds the engine's memory
	// too); default 64 MiB.
	MaxFileBytes int64
	// MaxExportBytes and MaxExportFiles bound what one build exports: the driver's Go module at
	// the commit; default 512 MiB and 100,000 files.
	MaxExportBytes int64
	MaxExportFiles int
	// MaxPackBytes bounds one clone or fetch: the pack as received, and the sum of its objects'
	// sizes once unpacked (a compressed pack can unpack a thousand times larger); default 1 GiB.
	MaxPackBytes int64

	// Credentials for private repositories; the first that matches a repository is used.
	Credentials []Credential

	// Metrics records compile durations and failures; nil records nothing.
	Metrics *metrics.Metrics
}

func (c *Config) setDefaults() error {
	if c.DataDir == "" {
		return fmt.Errorf("builder: DataDir is required")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("builder: data dir: %w", err)
	}
	c.DataDir = abs
	if c.SDKDir != "" {
		if c.SDKDir, err = filepath.Abs(c.SDKDir); err != nil {
			return fmt.Errorf("builder: sdk dir: %w", err)
		}
		if _, err := os.Stat(filepath.Join(c.SDKDir, "go.mod")); err != nil {
			return fmt.Errorf("builder: SDKDir must be the engine module root: %w", err)
		}
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	c.Logger = c.Logger.Named("builder")
	if c.GoBin == "" {
		c.GoBin = "go"
	}
	if !filepath.IsAbs(c.GoBin) {
		// Resolved once so a build never depends on the PATH it runs with.
		if c.GoBin, err = exec.LookPath(c.GoBin); err != nil {
			return fmt.Errorf("builder: go tool: %w (install Go 1.26 or set GoBin)", err)
		}
	}
	if c.GOPROXY == "" {
		c.GOPROXY = os.Getenv("GOPROXY")
	}
	if c.GOPROXY == "" {
		c.GOPROXY = "https://proxy.golang.org,direct"
	}
	if c.GOCACHE == "" || c.GOMODCACHE == "" {
		cache, modcache, err := goEnv(c.GoBin)
		if err != nil {
			return err
		}
		if c.GOCACHE == "" {
			c.GOCACHE = cache
		}
		if c.GOMODCACHE == "" {
			c.GOMODCACHE = modcache
		}
	}
	if c.MaxParallel <= 0 {
		c.MaxParallel = max(1, runtime.NumCPU()/2)
	}
	if c.BuildTimeout <= 0 {
		c.BuildTimeout = 5 * time.Minute
	}
	if c.FailureRetry <= 0 {
		c.FailureRetry = 5 * time.Minute
	}
	if c.FetchInterval == 0 {
		c.FetchInterval = 5 * time.Minute
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 2 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Minute
	}
	if c.GitTimeout <= 0 {
		c.GitTimeout = 10 * time.Minute
	}
	if c.GitStallTimeout <= 0 {
		c.GitStallTimeout = time.Minute
	}
	if c.MaxFileBytes <= 0 {
		c.MaxFileBytes = 64 << 20
	}
	if c.MaxExportBytes <= 0 {
		c.MaxExportBytes = 512 << 20
	}
	if c.MaxExportFiles <= 0 {
		c.MaxExportFiles = 100_000
	}
	if c.MaxPackBytes <= 0 {
		c.MaxPackBytes = 1 << 30
	}
	for _, kv := range c.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("builder: Env entry %q is not KEY=VALUE", kv)
		}
	}
	return nil
}

// goEnv asks the go tool for its cache folders (one short exec at start-up).
func goEnv(goBin string) (cache, modcache string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "env", "GOCACHE", "GOMODCACHE").Output()
	if err != nil {
		return "", "", fmt.Errorf("builder: go env: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return "", "", fmt.Errorf("builder: go env: unexpected output %q", out)
	}
	return strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1]), nil
}

// buildEnv is the whole environment of a go command: nothing is inherited except what is listed,
// so a node's secrets and stray GOFLAGS never reach a build.
func (b *Builder) buildEnv() []string {
	c := &b.cfg
	env := map[string]string{
		"PATH":        filepath.Dir(c.GoBin) + ":/usr/local/bin:/usr/bin:/bin",
		"HOME":        filepath.Join(c.DataDir, "builds", "home"),
		"GOCACHE":     c.GOCACHE,
		"GOMODCACHE":  c.GOMODCACHE,
		"GOPATH":      filepath.Join(c.DataDir, "builds", "gopath"),
		"GOFLAGS":     "-mod=mod",
		"GOPROXY":     c.GOPROXY,
		"GOENV":       "off",   // no go env file from HOME
		"GOWORK":      "off",   // a committed go.work must not redirect the build
		"GOTOOLCHAIN": "local", // never download another toolchain
		"CGO_ENABLED": "0",
		"GOOS":        runtime.GOOS,
		"GOARCH":      runtime.GOARCH,
		"TMPDIR":      filepath.Join(c.DataDir, "builds", "tmp"),
	}
	for _, k := range []string{"GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}
