package supervisor

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin"
)

// startOrphan runs a driver process the way a killed engine would have left it: serving, in its
// own process group, recorded in runDir.
func startOrphan(t *testing.T, binary string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), plugin.Handshake.MagicCookieKey+"="+plugin.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS="+strconv.Itoa(plugin.ProtocolVersion))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Best effort: the supervisor under test normally killed it already, and Wait then
		// reports the signal.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func TestOrphansKilledAtStartup(t *testing.T) {
	t.Parallel()
	binary := testutil.BuildBinary(t, driverPkg)
	runDir := t.TempDir()

	orphan := startOrphan(t, binary)
	// A pid reused by an unrelated program must survive: only its stale file goes.
	stranger := exec.Command("sleep", "30")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stranger.Process.Kill(); _ = stranger.Wait() }) // best effort; Wait reports the kill

	write := func(pid int, content string) string {
		path := filepath.Join(runDir, strconv.Itoa(pid)+".pid")
		if err := os.WriteFile(path, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	files := []string{
		write(orphan.Process.Pid, binary),
		write(stranger.Process.Pid, binary),
		write(999999999, binary), // long gone
	}
	testutil.Eventually(t, 5*time.Second, "the orphan driver process running", func() bool {
		return testutil.Alive(orphan.Process.Pid)
	})

	logs := &testutil.LockedBuffer{}
	sup, err := New(Config{RunDir: runDir, Logger: hclog.New(&hclog.LoggerOptions{Output: logs, JSONFormat: true})})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sup.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	}()

	testutil.WaitGone(t, orphan.Process.Pid)
	if !testutil.Alive(stranger.Process.Pid) {
		t.Fatal("an unrelated process with a recorded pid was killed")
	}
	for _, f := range files {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Fatalf("pid file %s left: %v", f, err)
		}
	}
	if len(findLogs(logs, "killed driver process left by a previous engine")) != 1 {
		t.Fatal("orphan kill not logged")
	}
}

func TestPidFiles(t *testing.T) {
	t.Parallel()
	runDir := filepath.Join(t.TempDir(), "run")
	f := newFixture(t, Config{RunDir: runDir})
	f.start(t, testModule("mod-a", `{}`))
	pid := f.pid(t)
	file := filepath.Join(runDir, strconv.Itoa(pid)+".pid")
	content, err := os.ReadFile(file)
	if err != nil || string(content) != f.binary+"\n" {
		t.Fatalf("pid file: %q, %v", content, err)
	}
	// The engine's user's alone: the folder the supervisor made, and the file.
	for p, want := range map[string]os.FileMode{runDir: 0o700, file: 0o600} {
		if fi, err := os.Stat(p); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != want {
			t.Errorf("%s is %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	if err := f.sup.Stop(t.Context(), "mod-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("pid file left after a clean stop: %v", err)
	}
}
