package supervisor

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
)

// socketDirOf is the socket folder go-plugin gave process pid, read from its environment rather
// than from the pid file, so a pid file without it does not hide a leak.
func socketDirOf(t testing.TB, pid int) string {
	t.Helper()
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range bytes.Split(env, []byte{0}) {
		if dir, ok := strings.CutPrefix(string(kv), "PLUGIN_UNIX_SOCKET_DIR="); ok {
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("socket folder of %d: %v", pid, err)
			}
			return dir
		}
	}
	t.Fatalf("process %d has no PLUGIN_UNIX_SOCKET_DIR", pid)
	return ""
}

// waitRemoved fails t unless path is gone within 10 s (a crashed process's folder goes when the
// supervisor has seen the exit, a moment after the process is gone).
func waitRemoved(t testing.TB, path string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, path+" removed", func() bool {
		_, err := os.Lstat(path)
		return os.IsNotExist(err)
	})
}

// A pid file is the engine's own, but one could be edited to name any path: the start-up
// clean-up removes only a go-plugin socket folder in the temp dir holding only its sockets.
func TestPidFileSocketFolderChecked(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	mkdir := func(dir string) string {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	socketDir := func() string {
		dir, err := os.MkdirTemp("", socketDirPrefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		return dir
	}
	// A socket left by a process that was killed: its file stays after the listener.
	socket := func(dir string) {
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "plugin123"), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		ln.SetUnlinkOnClose(false)
		_ = ln.Close()
	}

	left := socketDir()
	socket(left)
	data := t.TempDir() // stands for the engine's data dir
	testutil.WriteFile(t, filepath.Join(data, "raft.db"), "x")
	outside := mkdir(filepath.Join(data, socketDirPrefix+"1")) // a plugin-dir, but not in the temp dir
	socket(outside)
	link := socketDir() + "-link" // plugin-dir* in the temp dir, but a link to the data dir
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(link) })
	withFile := socketDir() // also holds a file that is not a socket
	socket(withFile)
	testutil.WriteFile(t, filepath.Join(withFile, "plugin-notes"), "x")
	notPlugin := t.TempDir() // in a folder of the temp dir, not named plugin-dir*

	refused := []string{
		outside,
		link,
		withFile,
		os.TempDir() + "/" + socketDirPrefix + "x/../" + filepath.Base(filepath.Dir(data)),
		notPlugin,
		socketDirPrefix + "1", // relative
	}
	pid := 999999990 // long gone: the folder outlives its process and is removed all the same
	for _, dir := range append(refused, left) {
		testutil.WriteFile(t, filepath.Join(runDir, strconv.Itoa(pid)+".pid"), "/no/such/driver\nmark\n1\n"+dir+"\n")
		pid++
	}
	logs := &testutil.LockedBuffer{}
	sup, err := New(Config{RunDir: runDir, Logger: hclog.New(&hclog.LoggerOptions{Output: logs, JSONFormat: true})})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sup.Close(t.Context()) }() // it runs nothing

	if _, err := os.Lstat(left); !os.IsNotExist(err) {
		t.Errorf("the socket folder of a killed engine's driver is left: %v", err)
	}
	for _, p := range []string{outside, filepath.Join(outside, "plugin123"), link, withFile,
		filepath.Join(withFile, "plugin123"), filepath.Join(data, "raft.db"), notPlugin} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	if got := len(findLogs(logs, "left the socket folder a pid file names")); got != len(refused) {
		t.Errorf("%d refusals logged, want %d:\n%s", got, len(refused), logs.String())
	}
}

// go-plugin's Client.Kill leaves the socket folder of a process that never started; launch
// removes it. Not parallel: the temp dir is this test's own, so that nothing else is in it.
func TestLaunchFailureLeavesNoFolder(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	notExecutable := filepath.Join(t.TempDir(), "driver")
	testutil.WriteFile(t, notExecutable, "not a program")
	f := newFixture(t, Config{BackoffInitial: time.Hour})
	// Start waits for a relaunch that the backoff puts off: the log says when the launch failed.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := f.sup.Start(ctx, notExecutable, testModule("mod-a", `{}`)); err == nil {
		t.Fatal("a module of a file that is no program started")
	}
	testutil.Eventually(t, 10*time.Second, "the failed launch", func() bool {
		return len(findLogs(f.logs, "driver process failed to start")) > 0
	})
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		t.Fatalf("temp dir after a failed launch: %v, %v", entries, err)
	}
}
