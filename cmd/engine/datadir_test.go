package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestPrivateDataDirTightensWhatIsThere: entries of a data directory left readable by group or
// others lose those bits (directories, files, executables), a symbolic link's target outside is
// left alone, and one log line says what was done.
func TestPrivateDataDirTightensWhatIsThere(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	outside := filepath.Join(t.TempDir(), "outside.txt")
	mustWrite(t, outside, 0o644)
	for _, d := range []string{dir, filepath.Join(dir, "run"), filepath.Join(dir, "drivers")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil { // past the test's umask
			t.Fatal(err)
		}
	}
	mustWrite(t, filepath.Join(dir, "run", "123.pid"), 0o644)
	mustWrite(t, filepath.Join(dir, "drivers", "display_abc1234_linux-amd64"), 0o755)
	mustWrite(t, filepath.Join(dir, "drivers", "own.json"), 0o600)
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	var logs testutil.LockedBuffer
	if err := privateDataDir(dir, hclog.New(&hclog.LoggerOptions{Output: &logs})); err != nil {
		t.Fatal(err)
	}
	assertPrivate(t, dir)
	if fi, err := os.Stat(filepath.Join(dir, "drivers", "display_abc1234_linux-amd64")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("binary: %v %v, want 0700 (still executable by its user)", fi.Mode(), err)
	}
	if fi, err := os.Stat(outside); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the target of a link was changed: %v %v", fi.Mode(), err)
	}
	if s := logs.String(); !strings.Contains(s, "group and other permissions removed") || !strings.Contains(s, "entries=5") {
		t.Errorf("log does not say what was tightened:\n%s", s)
	}
	// A second start has nothing to say.
	logs = testutil.LockedBuffer{}
	if err := privateDataDir(dir, hclog.New(&hclog.LoggerOptions{Output: &logs})); err != nil || logs.String() != "" {
		t.Errorf("second pass: %v, logged %q", err, logs.String())
	}
}

// TestDataDirIsPrivateAfterARealRun runs a real engine on a data directory an earlier engine left
// world-readable, with a driver it clones and compiles from a git repository and runs (so there
// are a clone, a binary and its sidecar, a pid file, Raft's log and snapshot folder), and walks
// the directory while the driver runs and after the engine stopped: nothing in it has a group or
// other permission bit.
func TestDataDirIsPrivateAfterARealRun(t *testing.T) {
	t.Parallel()
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	repo := helloRepo(t, root)
	redis := testutil.StartRedis(t)
	n := enginetest.NewNode(t, enginetest.Config{Redis: redis.URL, Flags: []string{"--sdk-dir", root}}, "n1")
	// What an engine with the old modes left behind.
	if err := os.Chmod(n.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(n.DataDir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(n.DataDir, "notes.txt"), 0o644)

	n.Start("--bootstrap", "--model", enginetest.WriteModel(t, `
repositories: [{id: repo-1, uri: "`+repo+`"}]
drivers: [{id: drv-hello, module_name: Hello, role: service, repository_id: repo-1, path: drivers/hello}]
modules: [{id: mod-hello, driver_id: drv-hello, running: true}]
systems: [{id: sys-1, name: Lab, modules: [mod-hello]}]
`))
	n.Eventually(120*time.Second, "the driver built from the repository answering", func() bool {
		r, err := n.Try("POST", "/api/engine/v2/systems/sys-1/Hello_1/version", "[]")
		return err == nil && r.Body == `"v1"`
	})
	if s := n.Logs().String(); !strings.Contains(s, "group and other permissions removed") {
		t.Errorf("the engine did not log that it tightened the data directory:\n%s", n.Logs().Tail(3000))
	}
	found := assertPrivate(t, n.DataDir)
	for _, want := range []string{"run/*.pid", "drivers/drivers+hello_*", "drivers/drivers+hello_*.json", "repositories/repo-1/HEAD", "raft/raft.db", "raft/snapshots"} {
		if !found(want) {
			t.Errorf("no %s in the data directory: the run did not write what the test checks", want)
		}
	}
	n.Stop()
	assertPrivate(t, n.DataDir)
}

// assertPrivate fails t for every entry of dir (dir included, symbolic links excepted) with a
// group or other permission bit, and returns a matcher of the relative paths it walked.
func assertPrivate(t *testing.T, dir string) (found func(pattern string) bool) {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed while walking (a finished build, a stopped process)
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		paths = append(paths, rel)
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s is %s: readable beyond the engine's user", rel, perm)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return func(pattern string) bool {
		for _, p := range paths {
			if ok, _ := filepath.Match(pattern, p); ok {
				return true
			}
		}
		return false
	}
}

func mustWrite(t *testing.T, path string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the test's umask
		t.Fatal(err)
	}
}

// helloRepo is a git repository of one driver, drivers/hello, whose Version answers "v1".
func helloRepo(t *testing.T, engineRoot string) string {
	t.Helper()
	dir := t.TempDir()
	sum, err := os.ReadFile(filepath.Join(engineRoot, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod": "module example.com/acme/drivers\n\ngo 1.26\n\nrequire github.com/placeos-go/engine v0.0.0-00010101000000-000000000000\n",
		"go.sum": string(sum),
		"drivers/hello/main.go": `package main

import (
	"context"

	"github.com/placeos-go/engine/sdk"
)

// Hello answers with its version.
type Hello struct{ sdk.Base }

// Version returns "v1".
func (h *Hello) Version(ctx context.Context) (string, error) { return "v1", nil }

func main() { sdk.Serve(func() *Hello { return &Hello{} }) }
`,
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "hello"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
			"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s (git is required: apt-get install -y git)", args, err, out)
		}
	}
	return dir
}
