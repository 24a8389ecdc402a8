package builder

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

// engineRoot is the engine module root (the SDKDir of every test builder).
func engineRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// testWriter sends the builder's log to the test log (visible with -v or on failure).
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

var (
	warmOnce sync.Once
	warmErr  error
)

// warmModuleCache builds the example display driver once as a driver module, with the go tool's
// own proxy settings, so that the GOPROXY=off builds of the tests find every go.mod they need: a
// driver module reads go.mod files the engine's own (pruned) builds never do, so a fresh
// machine's cache lacks them until something downloads them.
func warmModuleCache(t testing.TB) {
	t.Helper()
	warmOnce.Do(func() { warmErr = buildDriverModule(engineRoot(t)) })
	if warmErr != nil {
		t.Fatalf("filling the module cache for driver builds (needs the Go module proxy once): %v", warmErr)
	}
}

func buildDriverModule(root string) error {
	dir, err := os.MkdirTemp("", "warm-modcache-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{"go.mod": strings.Replace(driverGoMod, "=> ../engine", "=> "+root, 1)}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return err
	}
	files["go.sum"] = string(sum)
	for _, f := range []string{"main.go", "display.go"} {
		src, err := os.ReadFile(filepath.Join(root, "examples", "drivers", "display", f))
		if err != nil {
			return err
		}
		files[filepath.Join("drivers", "display", f)] = string(src)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, "./drivers/display")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of a driver module: %w\n%s", err, out)
	}
	return nil
}

// newBuilder makes a builder on dataDir that never touches the network (GOPROXY=off) and shares
// the go tool's own build cache, so only the first build of a run compiles the SDK.
func newBuilder(t testing.TB, dataDir string, mod func(*Config)) *Builder {
	t.Helper()
	warmModuleCache(t)
	w := &testWriter{t: t}
	cfg := Config{
		DataDir:  dataDir,
		SDKDir:   engineRoot(t),
		Logger:   hclog.New(&hclog.LoggerOptions{Output: w, Level: hclog.Debug}),
		GOPROXY:  "off",
		RetryMin: 50 * time.Millisecond,
		RetryMax: 200 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return b
}

func gitBin(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is required for the builder tests: apt-get install git (%v)", err)
	}
	return p
}

// runGit runs the git CLI in dir with no user or system configuration.
func runGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(gitBin(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// driverGoMod is what a driver author commits: a requirement on the engine (any version: the
// builder replaces it) and, typically, a replace to the author's own engine checkout, which the
// builder drops.
const driverGoMod = `module example.com/acme/drivers

go 1.26

require github.com/placeos-go/engine v0.0.0-00010101000000-000000000000

replace github.com/placeos-go/engine => ../engine
`

// newDriverRepo creates a git repository holding a driver module with the example display
// driver at drivers/display, and returns its folder and head commit.
func newDriverRepo(t testing.TB) (dir, head string) {
	t.Helper()
	dir = t.TempDir()
	runGit(t, dir, "init", "-q", "-b", "main")
	testutil.WriteFile(t, filepath.Join(dir, "go.mod"), driverGoMod)
	sum, err := os.ReadFile(filepath.Join(engineRoot(t), "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(dir, "go.sum"), string(sum))
	for _, f := range []string{"main.go", "display.go"} {
		src, err := os.ReadFile(filepath.Join(engineRoot(t), "examples", "drivers", "display", f))
		if err != nil {
			t.Fatal(err)
		}
		testutil.WriteFile(t, filepath.Join(dir, "drivers", "display", f), string(src))
	}
	return dir, commitAll(t, dir, "display driver")
}

func commitAll(t testing.TB, dir, msg string) string {
	t.Helper()
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", msg)
	return runGit(t, dir, "rev-parse", "HEAD")
}

// setVersion rewrites the display driver's version, a change visible in its metadata.
func setVersion(t testing.TB, dir, version string) string {
	t.Helper()
	p := filepath.Join(dir, "drivers", "display", "display.go")
	src, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(src), `sdk.Version("`)
	if i < 0 {
		t.Fatal("display.go has no sdk.Version option")
	}
	j := strings.Index(string(src[i+13:]), `"`)
	out := string(src[:i+13]) + version + string(src[i+13+j:])
	testutil.WriteFile(t, p, out)
	return commitAll(t, dir, "version "+version)
}

// metadata runs a driver binary with --metadata, as an operator would.
func metadata(t testing.TB, bin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--metadata").Output()
	if err != nil {
		t.Fatalf("%s --metadata: %v", bin, err)
	}
	return string(out)
}

// commandsContaining lists the running processes whose command line contains s, as pgrep -f
// would, read from /proc so the test does not depend on procps being installed.
func commandsContaining(t testing.TB, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // the process has exited since ReadDir
		}
		if c := strings.ReplaceAll(string(cmdline), "\x00", " "); strings.Contains(c, s) {
			out = append(out, e.Name()+": "+c)
		}
	}
	return out
}

func repoOf(id, dir string) model.Repository { return model.Repository{ID: id, URI: dir} }

// assertPrivate fails t for every entry under dir (symbolic links excepted) that group or others
// may read, write or enter.
func assertPrivate(t testing.TB, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			rel, _ := filepath.Rel(dir, p)
			t.Errorf("%s is %s: readable beyond the engine's user", rel, perm)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
