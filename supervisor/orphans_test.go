package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/proctree"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin"
	pb "github.com/placeos-go/engine/plugin/proto"
)

// startOrphan runs a driver process the way a killed engine would have left it: serving, in its
// own process group, recorded in runDir.
func startOrphan(t *testing.T, binary string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), plugin.Handshake.MagicCookieKey+"="+plugin.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS="+strconv.Itoa(plugin.ProtocolVersion),
		// The socket folder a host gives: the SIGKILL below would leave one the driver made.
		"PLUGIN_UNIX_SOCKET_DIR="+t.TempDir())
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
	if lines := strings.Split(string(content), "\n"); err != nil || len(lines) != 6 || lines[0] != f.binary || len(lines[1]) != 24 ||
		lines[3] != socketDirOf(t, pid) || !strings.HasPrefix(lines[4], strconv.Itoa(os.Getpid())+" ") {
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

// orphanHelperEnv makes the test binary an engine that the test kills: it runs a forking
// misbehaving driver module with RunDir $orphanHelperEnv, prints the driver's processes as JSON
// and waits to be killed.
const orphanHelperEnv = "SUPERVISOR_ORPHAN_HELPER"

func runOrphanHelper() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "orphan helper:", err)
		os.Exit(1)
	}
	// Its log on stderr, which the test reads (startHelperEngine).
	logger := hclog.New(&hclog.LoggerOptions{Output: os.Stderr, JSONFormat: true})
	sup, err := New(Config{RunDir: os.Getenv(orphanHelperEnv), Logger: logger})
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	binary := os.Getenv("SUPERVISOR_ORPHAN_BINARY")
	if err := sup.Start(ctx, binary, badModule("bad", "fork")); err != nil {
		fail(err)
	}
	resp, err := sup.Exec(ctx, &pb.ExecRequest{ModuleId: "bad", Function: "children", ArgsJson: []byte("[]")})
	if err != nil {
		fail(err)
	}
	var pids []int
	if err := json.Unmarshal(resp.ResultJson, &pids); err != nil {
		fail(err)
	}
	st, _ := sup.DriverStatus(binary)
	out, _ := json.Marshal(append(pids, st.PID))
	fmt.Println(string(out))
	select {}
}

// startHelperEngine runs the test binary as an engine (runOrphanHelper) in working directory
// dir ("": the test's) with its pid files in runDir; it returns it with its driver's processes,
// the driver's own last, and its log. Killed at the end of the test, its orphans are then
// cleaned by a start on runDir.
func startHelperEngine(t *testing.T, binary, runDir, dir string) (*exec.Cmd, []int, *testutil.LockedBuffer) {
	t.Helper()
	logs := &testutil.LockedBuffer{}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), orphanHelperEnv+"="+runDir, "SUPERVISOR_ORPHAN_BINARY="+binary)
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // best effort: the test may have killed it
		_ = cmd.Wait()
		// A failed test must not leave the killed engine's drivers running either.
		if sup, err := New(Config{RunDir: runDir}); err == nil {
			_ = sup.Close(context.Background()) // it runs nothing
		}
	})
	var pids []int
	if err := json.NewDecoder(stdout).Decode(&pids); err != nil || len(pids) != 3 {
		t.Fatalf("helper's driver processes: %v, %v; its log:\n%s", pids, err, logs.String())
	}
	return cmd, pids, logs
}

// A node started on a copy of another node's data directory (pid files included) must leave
// the other node's drivers running, and their socket folder; once that engine is killed they
// are orphans, and a start on the same copy kills them.
func TestCopiedRunDirLeavesLiveDrivers(t *testing.T) {
	t.Parallel()
	binary := testutil.BuildBinary(t, badDriverPkg)
	runDir := t.TempDir()
	engine, pids, _ := startHelperEngine(t, binary, runDir, "")
	socketDir := socketDirOf(t, pids[len(pids)-1])
	// lines keeps that many lines of each pid file: 4 is a file of an engine that did not record
	// itself.
	copyRunDir := func(lines int) string {
		dst := t.TempDir()
		entries, err := os.ReadDir(runDir)
		if err != nil || len(entries) != 1 {
			t.Fatalf("the helper's pid files: %v, %v", entries, err)
		}
		for _, e := range entries {
			content := strings.SplitAfter(testutil.ReadFile(t, filepath.Join(runDir, e.Name())), "\n")
			testutil.WriteFile(t, filepath.Join(dst, e.Name()), strings.Join(content[:lines], ""))
		}
		return dst
	}
	for _, lines := range []int{5, 4} {
		copied := copyRunDir(lines)
		logs := startOn(t, copied)
		for _, pid := range pids {
			if !testutil.Alive(pid) {
				t.Fatalf("process %d of a running engine's driver was killed by a start on a copy of its data (pid file of %d lines)", pid, lines)
			}
		}
		if !leftFor(logs, engine.Process.Pid) {
			t.Fatalf("leaving the live driver was not logged at INFO with its engine:\n%s", logs.String())
		}
		if _, err := os.Stat(socketDir); err != nil {
			t.Fatalf("the live driver's socket folder: %v", err)
		}
		if entries, _ := os.ReadDir(copied); len(entries) != 0 {
			t.Fatalf("the copied pid file was kept: %v", entries)
		}
	}

	if err := engine.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = engine.Wait() // reports the kill
	logs := startOn(t, copyRunDir(5))
	testutil.WaitGone(t, pids...)
	if len(findLogs(logs, "killed driver process left by a previous engine")) != 1 {
		t.Fatal("the orphans of the killed engine were not killed")
	}
}

// An engine killed with SIGKILL leaves its driver and what the driver started (also in a
// session of its own) running, and the driver's socket folder; the next start kills them all and
// removes the folder.
func TestKilledEngineLeavesNothing(t *testing.T) {
	t.Parallel()
	binary := testutil.BuildBinary(t, badDriverPkg)
	runDir := t.TempDir()
	cmd, pids, _ := startHelperEngine(t, binary, runDir, "")
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // reports the kill
	for _, pid := range pids {
		if !testutil.Alive(pid) {
			t.Fatalf("process %d did not outlive the killed engine; the test proves nothing", pid)
		}
	}
	socketDir := socketDirOf(t, pids[len(pids)-1]) // go-plugin's, which only its Client.Kill removes

	logs := startOn(t, runDir)
	testutil.WaitGone(t, pids...)
	if len(findLogs(logs, "killed driver process left by a previous engine")) != 1 {
		t.Fatal("the cleanup was not logged")
	}
	if _, err := os.Lstat(socketDir); !os.IsNotExist(err) {
		t.Fatalf("the killed engine's driver socket folder %s is left: %v", socketDir, err)
	}
}

// startOn is a start on runDir that runs nothing: it only cleans up what the pid files name. It
// returns the log.
func startOn(t *testing.T, runDir string) *testutil.LockedBuffer {
	t.Helper()
	logs := &testutil.LockedBuffer{}
	sup, err := New(Config{RunDir: runDir, Logger: hclog.New(&hclog.LoggerOptions{Output: logs, JSONFormat: true})})
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	return logs
}

// leftFor reports whether logs say once, at INFO, that a driver of engine was left running.
func leftFor(logs *testutil.LockedBuffer, engine int) bool {
	left := findLogs(logs, "left a driver process a pid file names: the engine that started it still runs "+
		"(this data directory is a copy of another node's?)")
	return len(left) == 1 && left[0]["@level"] == "info" && left[0]["engine_pid"] == float64(engine)
}

// requireAlive fails t unless every pid runs; what says what would have killed it.
func requireAlive(t *testing.T, pids []int, what string, logs *testutil.LockedBuffer) {
	t.Helper()
	for _, pid := range pids {
		if !testutil.Alive(pid) {
			t.Fatalf("process %d was killed by %s; the log:\n%s", pid, what, logs.String())
		}
	}
}

// scripts/cluster.sh runs its engines with a relative --driver-dir (bin/drivers). A node started
// on a copy of another node's data directory on the same host leaves that node's drivers running
// (the same processes) and starts its own, also from a pid file naming the binary relative, as
// engines before absolute records wrote it. Once the first engine is killed, a start on its data
// directory kills what it left, and only that.
func TestCopiedRunDirRelativeDriverDir(t *testing.T) {
	t.Parallel()
	work := t.TempDir() // the engines' working directory
	const binary = "bin/drivers/baddriver"
	raw, err := os.ReadFile(testutil.BuildBinary(t, badDriverPkg))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(work, "bin/drivers"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, binary), raw, 0o755); err != nil {
		t.Fatal(err)
	}
	runA := t.TempDir()
	engineA, pidsA, _ := startHelperEngine(t, binary, runA, work)
	files, err := filepath.Glob(filepath.Join(runA, "*.pid"))
	if err != nil || len(files) != 1 {
		t.Fatalf("engine A's pid files: %v, %v", files, err)
	}
	recorded := testutil.ReadFile(t, files[0])
	recordedBinary, rest, _ := strings.Cut(recorded, "\n")
	if want := absPath(filepath.Join(work, binary)); recordedBinary != want {
		t.Errorf("the pid file names the binary %q, want %q", recordedBinary, want)
	}

	var driversB []int
	for _, legacy := range []bool{false, true} {
		runB := t.TempDir()
		content := recorded
		if legacy {
			content = binary + "\n" + rest
		}
		testutil.WriteFile(t, filepath.Join(runB, filepath.Base(files[0])), content)
		_, pidsB, logsB := startHelperEngine(t, binary, runB, work)
		requireAlive(t, pidsA, fmt.Sprintf("engine B started on a copy of engine A's data (relative binary in the pid file: %v)", legacy), logsB)
		for _, pid := range pidsB {
			if slices.Contains(pidsA, pid) {
				t.Fatalf("engine B's driver processes %v include engine A's %d", pidsB, pid)
			}
		}
		testutil.Eventually(t, 5*time.Second, "engine B logging that it left engine A's driver", func() bool {
			return leftFor(logsB, engineA.Process.Pid)
		})
		driversB = append(driversB, pidsB[len(pidsB)-1])
	}

	// A pid file whose process is gone (a copy taken while A relaunched the driver) finds A's
	// processes by the mark alone: still A's.
	gone := t.TempDir()
	testutil.WriteFile(t, filepath.Join(gone, "999999999.pid"), recorded)
	logs := startOn(t, gone)
	requireAlive(t, pidsA, "a start on a copied pid file whose process is gone", logs)
	if !leftFor(logs, engineA.Process.Pid) {
		t.Fatalf("leaving the live driver was not logged at INFO with its engine:\n%s", logs.String())
	}

	// A pid file's binary, relative or not, is the driver's from any working directory.
	driverA := pidsA[len(pidsA)-1]
	for _, b := range []string{binary, filepath.Join(work, binary), recordedBinary} {
		if !runsBinary(driverA, b) {
			t.Errorf("engine A's driver process %d does not run %s", driverA, b)
		}
	}

	// A killed engine's pid file whose pid is now engine B's driver, of the same binary, started
	// after the one recorded: not the recorded process.
	reused := t.TempDir()
	testutil.WriteFile(t, filepath.Join(reused, strconv.Itoa(driversB[0])+".pid"),
		fmt.Sprintf("%s\n%s\n1\n\n999999999 1\n", recordedBinary, proctree.NewMark()))
	logs = startOn(t, reused)
	requireAlive(t, driversB, "a start on a dead engine's pid file naming a reused pid", logs)

	// The next start on A's own data dir, with A killed, finds the processes from the binary
	// recorded absolute, whatever its working directory.
	if err := engineA.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = engineA.Wait() // reports the kill
	logs = startOn(t, runA)
	testutil.WaitGone(t, pidsA...)
	if len(findLogs(logs, "killed driver process left by a previous engine")) != 1 {
		t.Fatalf("engine A's orphans were not killed by a start on its data dir:\n%s", logs.String())
	}
	requireAlive(t, driversB, "a start on engine A's data dir", logs)
}
