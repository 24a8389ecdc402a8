package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/scaffold"
	"github.com/placeos-go/engine/version"
)

// TestNewDriverRepository runs `engine new driver` outside any module, for every transport: each
// makes a repository whose go.mod requires this engine's release and replaces it with this
// checkout, with its first commit, and whose driver passes go vet and go test and builds, with
// no network. The tcp repository then gets a second driver from `engine new driver` run inside
// it, and the engine's builder compiles its committed driver from git as a node would.
func TestNewDriverRepository(t *testing.T) {
	t.Parallel()
	bin, root := engineBinary(t)
	for _, tr := range scaffold.Transports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			work := t.TempDir()
			name := string(tr) + "drv"
			// The transport as people type it.
			out := offline(t, work, bin, "new", "driver", name, "--transport="+strings.ToUpper(string(tr)))
			repo := filepath.Join(work, name)
			if !strings.Contains(out, "first commit") || !strings.Contains(out, "go test ./drivers/"+name+"/...") {
				t.Fatalf("the summary does not say what was made and what to run:\n%s", out)
			}
			mod := testutil.ReadFile(t, filepath.Join(repo, "go.mod"))
			for _, want := range []string{
				"module example.com/" + name + "\n",
				"github.com/placeos-go/engine " + version.Tag + "\n", // require, alone or in a block
				"replace github.com/placeos-go/engine => " + root + "\n",
			} {
				if !strings.Contains(mod, want) {
					t.Fatalf("go.mod lacks %q:\n%s", want, mod)
				}
			}
			if log := git(t, repo, "log", "--format=%s"); !strings.Contains(log, "made by engine new driver") || strings.Count(log, "\n") != 1 {
				t.Fatalf("git log: %q", log)
			}
			if st := git(t, repo, "status", "--porcelain"); st != "" {
				t.Fatalf("files left out of the first commit:\n%s", st)
			}
			if tr == scaffold.TCP {
				// Inside a driver repository a new driver joins its module.
				out := offline(t, filepath.Join(repo, "drivers"), bin, "new", "driver", "room", "--transport", "logic")
				if !strings.Contains(out, "a driver repository") {
					t.Fatalf("a second driver:\n%s", out)
				}
				buildWithBuilder(t, repo, "drivers/"+name, root)
			}
			offline(t, repo, "go", "vet", "./...")
			out = offline(t, repo, "go", "test", "-count=1", "./...")
			if !strings.Contains(out, "ok  \texample.com/"+name+"/drivers/"+name+"\t") ||
				tr == scaffold.TCP && !strings.Contains(out, "ok  \texample.com/"+name+"/drivers/room\t") {
				t.Fatalf("go test:\n%s", out)
			}
			offline(t, repo, "go", "build", "-o", t.TempDir(), "./drivers/"+name)
		})
	}
}

// TestNewDriverInTheEngineCheckout: run anywhere inside the engine's checkout, the driver goes to
// examples/drivers/NAME of the engine module, with no go.mod and no commit of its own; --dir puts
// it elsewhere in the module. (scaffold's tests compile and run drivers written there.)
func TestNewDriverInTheEngineCheckout(t *testing.T) {
	t.Parallel()
	bin, _ := engineBinary(t)
	checkout := t.TempDir()
	testutil.WriteFile(t, filepath.Join(checkout, "go.mod"), "module "+version.Module+"\n\ngo 1.26\n")
	if err := os.MkdirAll(filepath.Join(checkout, "sdk"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := offline(t, filepath.Join(checkout, "sdk"), bin, "new", "driver", "projector")
	dir := filepath.Join(checkout, "examples", "drivers", "projector")
	for _, f := range []string{"projector.go", "projector_test.go", "main.go", "sim/projectorsim/sim.go", "sim/main.go"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
	test := testutil.ReadFile(t, filepath.Join(dir, "projector_test.go"))
	if !strings.Contains(test, `"`+version.Module+`/examples/drivers/projector/sim/projectorsim"`) {
		t.Errorf("the test does not import the simulator by its path in the engine module:\n%s", test)
	}
	for _, absent := range []string{".git", "examples/drivers/projector/go.mod"} {
		if _, err := os.Stat(filepath.Join(checkout, absent)); err == nil {
			t.Errorf("%s written inside the engine's checkout", absent)
		}
	}
	offline(t, checkout, bin, "new", "driver", "lamp", "--transport", "http", "--dir", "examples/lamps/lamp")
	if _, err := os.Stat(filepath.Join(checkout, "examples", "lamps", "lamp", "lamp.go")); err != nil {
		t.Fatal(err)
	}
}

// TestNewDriverRefusesBadInput: every refusal exits 1 with an error that says what to do.
func TestNewDriverRefusesBadInput(t *testing.T) {
	t.Parallel()
	bin, _ := engineBinary(t)
	work := t.TempDir()
	testutil.WriteFile(t, filepath.Join(work, "taken", "file"), "x")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"new"}, "usage: engine new driver NAME"},
		{[]string{"new", "driver"}, "the driver's NAME is missing"},
		{[]string{"new", "projector"}, "engine new driver projector"},
		{[]string{"new", "driver", "Projector"}, `try "projector"`},
		{[]string{"new", "driver", "my-projector"}, `try "myprojector"`},
		{[]string{"new", "driver", "../escape"}, `try "escape"`},
		{[]string{"new", "driver", "main"}, "collide"},
		{[]string{"new", "driver", "x", "--transport", "serial"}, "want one of tcp, udp, http, ssh, websocket, logic"},
		{[]string{"new", "driver", "taken"}, "exists and is not empty"},
		{[]string{"new", "driver", "x", "--dir", "taken"}, "exists and is not empty"},
		{[]string{"new", "driver", "x", "--module", "Bad Module"}, "module path"},
		{[]string{"new", "driver", "x", "y"}, `unexpected argument "y"`},
		{[]string{"new", "driver", "x", "--sdk-dir", work}, "no engine source"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Dir = work
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 || !strings.Contains(string(out), c.want) {
			t.Errorf("engine %s: exit %d, output %q; want exit 1 and %q", strings.Join(c.args, " "), code, out, c.want)
		}
	}
	if entries, _ := os.ReadDir(work); len(entries) != 1 {
		t.Errorf("a refused command wrote something: %v", entries)
	}
}

// TestNewHelp: asking engine new for help shows the usage and the flags, exit 0, writing nothing.
func TestNewHelp(t *testing.T) {
	t.Parallel()
	bin, _ := engineBinary(t)
	work := t.TempDir()
	for _, args := range [][]string{{"new", "--help"}, {"new", "-h"}, {"new", "help"}, {"new", "driver", "--help"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = work
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "usage: engine new driver NAME") || !strings.Contains(string(out), "-transport string") {
			t.Errorf("engine %s: %v, output %q; want exit 0 and the usage", strings.Join(args, " "), err, out)
		}
	}
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Errorf("engine new --help wrote something: %v", entries)
	}
}

// TestVersion: `engine version` names the release driver repositories require and the engine
// source new ones are pointed at: this checkout, found from the binary alone (built with plain
// go build, as go run does).
func TestVersion(t *testing.T) {
	t.Parallel()
	bin, root := engineBinary(t)
	for _, arg := range []string{"version", "--version"} {
		out := offline(t, t.TempDir(), bin, arg)
		if !strings.HasPrefix(out, "engine "+version.Tag+" (") || !strings.Contains(out, "engine source: "+root+"\n") {
			t.Errorf("engine %s:\n%s", arg, out)
		}
	}
}

// TestEngineSourceOrder: the folder the Makefile records wins when it is an engine source, and is
// passed over when it is not.
func TestEngineSourceOrder(t *testing.T) {
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	testutil.WriteFile(t, filepath.Join(other, "go.mod"), "module "+version.Module+"\n")
	defer func(old string) { builtFrom = old }(builtFrom)
	for from, want := range map[string]string{other: other, t.TempDir(): root, "": root} {
		builtFrom = from
		if got := engineSource(); got != want {
			t.Errorf("built from %q: engine source %q, want %q", from, got, want)
		}
	}
}

// buildWithBuilder compiles the committed driver at path of repo as an engine node does: from a
// clone, with the repository's replace dropped for the engine's own source.
func buildWithBuilder(t *testing.T, repo, path, sdkDir string) {
	t.Helper()
	b, err := builder.New(builder.Config{DataDir: t.TempDir(), SDKDir: sdkDir, GOPROXY: "off", Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	head := git(t, repo, "rev-parse", "HEAD")
	bin, err := b.Build(context.Background(), model.Repository{ID: "new-driver", URI: repo}, path, strings.TrimSpace(head))
	if err != nil {
		t.Fatalf("the builder cannot build %s of a new repository: %v", path, err)
	}
	if out, err := exec.Command(bin.Path, "--metadata").Output(); err != nil || !strings.Contains(string(out), `"power"`) {
		t.Fatalf("%s --metadata: %v\n%s", bin.Path, err, out)
	}
}

var (
	warmOnce sync.Once
	warmErr  error // with the command's output
)

// engineBinary is `go build ./cmd/engine` of this checkout (with no -ldflags: the engine source
// is found from the binary itself), and the checkout's root.
//
// A driver module reads go.mod files of the engine's dependencies that the engine's own builds
// never do, so the first use of the binary scaffolds a repository once with the go tool's own
// proxy settings, as builder's tests warm their cache; everything after runs with GOPROXY=off.
func engineBinary(t *testing.T) (bin, root string) {
	t.Helper()
	bin = testutil.BuildBinary(t, "cmd/engine")
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	warmOnce.Do(func() {
		dir, err := os.MkdirTemp("", "engine-new-warm-")
		if err != nil {
			warmErr = err
			return
		}
		defer os.RemoveAll(dir)
		cmd := exec.Command(bin, "new", "driver", "warm")
		cmd.Dir, cmd.Env = dir, append(gitEnv(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			warmErr = fmt.Errorf("%w\n%s", err, out)
		}
	})
	if warmErr != nil {
		t.Fatalf("filling the module cache for driver modules (needs the Go module proxy once): %v", warmErr)
	}
	return bin, root
}

// offline runs a command (the engine, go, git) in dir with no network and go's default
// -mod=readonly, as an author types it right after `engine new driver`, and returns its output.
func offline(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, append(gitEnv(), "GOPROXY=off", "GOFLAGS=", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// gitEnv is this process's environment with a git identity and no user or system git
// configuration, so commits work on any machine.
func gitEnv() []string {
	return append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com")
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return offline(t, dir, "git", args...)
}
