package builder

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/proctree"
	"github.com/placeos-go/engine/internal/testutil"
)

// buildHelperEnv makes the test binary an engine that builds the folder it names with a
// compiler that never ends (hangingBuild) and waits to be killed.
const buildHelperEnv = "BUILDER_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(buildHelperEnv) != "" {
		runBuildHelper()
	}
	os.Exit(m.Run())
}

// hangingConfig is a builder on dataDir whose go build runs its tools through a wrapper that
// records its pid in pidFile and sleeps: the go tool is real, its compiler hangs.
func hangingConfig(dataDir, pidFile string, logger hclog.Logger) Config {
	tool := filepath.Join(filepath.Dir(pidFile), "toolexec")
	return Config{
		DataDir: dataDir, Logger: logger, GOPROXY: "off",
		GOCACHE: filepath.Join(dataDir, "gocache"), GOMODCACHE: filepath.Join(dataDir, "gomodcache"),
		Env: []string{"GOFLAGS=-mod=mod -toolexec=" + tool, "HANG_PIDS=" + pidFile},
	}
}

func runBuildHelper() {
	folder := os.Getenv(buildHelperEnv)
	b, err := New(hangingConfig(os.Getenv("BUILDER_TEST_DATA"), os.Getenv("BUILDER_TEST_PIDS"),
		hclog.New(&hclog.LoggerOptions{Output: os.Stderr})))
	if err == nil {
		_, err = b.BuildFolder(context.Background(), folder)
	}
	fmt.Fprintln(os.Stderr, "build helper: the build ended:", err)
	select {} // an engine runs on after a build ends: the tests kill it
}

// hangingBuild is an engine process (the test binary, runBuildHelper) building with a compiler
// that never ends, and the tools to start builders on its data directory or copies of it.
type hangingBuild struct {
	engine           *exec.Cmd
	dataDir, pidFile string
	goCmd, compiler  int
}

func startHangingBuild(t *testing.T) *hangingBuild {
	tmp := t.TempDir()
	folder := filepath.Join(tmp, "drv")
	h := &hangingBuild{dataDir: filepath.Join(tmp, "data"), pidFile: filepath.Join(tmp, "pids")}
	testutil.WriteFile(t, filepath.Join(folder, "go.mod"), "module example.com/drv\n\ngo 1.22\n")
	testutil.WriteFile(t, filepath.Join(folder, "main.go"), "package main\n\nfunc main() {}\n")
	testutil.WriteFile(t, filepath.Join(tmp, "toolexec"), "#!/bin/sh\necho $$ >> \"$HANG_PIDS\"\nexec sleep 3600\n")
	if err := os.Chmod(filepath.Join(tmp, "toolexec"), 0o755); err != nil {
		t.Fatal(err)
	}

	h.engine = exec.Command(os.Args[0], "-test.run=^$")
	h.engine.Env = append(os.Environ(), buildHelperEnv+"="+folder, "BUILDER_TEST_DATA="+h.dataDir, "BUILDER_TEST_PIDS="+h.pidFile)
	h.engine.Stderr = &testWriter{t: t}
	if err := h.engine.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.engine.Process.Kill(); _ = h.engine.Wait() }) // best effort: the tests kill it
	testutil.Eventually(t, 30*time.Second, "the helper's go build running its compiler", func() bool {
		raw, _ := os.ReadFile(h.pidFile)
		h.compiler, _ = strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
		return h.compiler > 0 && testutil.Alive(h.compiler)
	})
	t.Cleanup(func() { _ = syscall.Kill(h.compiler, syscall.SIGKILL) }) // best effort: the tests kill it
	h.goCmd = proctree.Parent(h.compiler)
	if !strings.HasPrefix(filepath.Base(testutil.Exe(h.goCmd)), "go") {
		t.Fatalf("the compiler's parent %d runs %s, not the go tool", h.goCmd, testutil.Exe(h.goCmd))
	}
	return h
}

// start runs a builder's start on dataDir (its cleanup of what pid files name) and answers its log.
func (h *hangingBuild) start(t *testing.T, dataDir string) *testutil.LockedBuffer {
	logs := &testutil.LockedBuffer{}
	b, err := New(hangingConfig(dataDir, h.pidFile, hclog.New(&hclog.LoggerOptions{Output: logs})))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return logs
}

// copyRunDir is a data directory holding a copy of the engine's build pid files.
func (h *hangingBuild) copyRunDir(t *testing.T) string {
	copied := t.TempDir()
	for _, e := range pidFiles(t, h.dataDir) {
		testutil.WriteFile(t, filepath.Join(copied, "builds", "run", e), testutil.ReadFile(t, filepath.Join(h.dataDir, "builds", "run", e)))
	}
	return copied
}

const leftLiveBuild = "left a build a pid file names: the engine that started it still runs"

// A node killed during a build takes the go command with it (Pdeathsig), and its next start
// kills the compiler the go command had started; a start on a copy of the data directory while
// the building engine runs leaves the build alone.
func TestKilledEngineLeavesNoBuild(t *testing.T) {
	t.Parallel()
	h := startHangingBuild(t)
	logs := h.start(t, h.copyRunDir(t))
	if !testutil.Alive(h.goCmd) || !testutil.Alive(h.compiler) {
		t.Fatal("a start on a copy of the data directory killed the running engine's build")
	}
	if !strings.Contains(logs.String(), leftLiveBuild) {
		t.Fatalf("leaving the live build was not logged: %s", logs)
	}

	if err := h.engine.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = h.engine.Wait() // reports the kill
	testutil.WaitGone(t, h.goCmd)
	if !testutil.Alive(h.compiler) {
		t.Fatal("the compiler died with the go command; the restart's cleanup is not tested")
	}
	logs = h.start(t, h.dataDir)
	testutil.WaitGone(t, h.compiler)
	if !strings.Contains(logs.String(), "killed a build left by a previous engine") {
		t.Fatalf("the cleanup was not logged: %s", logs)
	}
	if left := pidFiles(t, h.dataDir); len(left) != 0 {
		t.Fatalf("build pid files left: %v", left)
	}
}

// A start on a copy of the data directory leaves a live engine's compiler alone also once the go
// command that started it has ended: found by its mark alone, it is still that engine's.
func TestCopyLeavesALiveEnginesCompiler(t *testing.T) {
	t.Parallel()
	h := startHangingBuild(t)
	copied := h.copyRunDir(t) // first: the engine removes its pid file once the go command has ended
	if err := syscall.Kill(h.goCmd, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitGone(t, h.goCmd)
	logs := h.start(t, copied)
	if !testutil.Alive(h.compiler) {
		t.Fatal("a start on a copy of the data directory killed the running engine's compiler once its go command had ended")
	}
	if !strings.Contains(logs.String(), leftLiveBuild) {
		t.Fatalf("leaving the live engine's compiler was not logged: %s", logs)
	}
}

// pidFiles lists the build pid files of dataDir.
func pidFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dataDir, "builds", "run"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A build pid file whose pid is now another program's (or a tampered one) kills nothing: the
// process leads a group of its own but carries no build's mark.
func TestStalePidFileSparesStranger(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	stranger := exec.Command("sleep", "30")
	stranger.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stranger.Process.Kill(); _ = stranger.Wait() }) // best effort: it must outlive New
	pid := stranger.Process.Pid
	testutil.WriteFile(t, filepath.Join(dataDir, "builds", "run", strconv.Itoa(pid)+".pid"), "0123456789abcdef01234567\n0\n1 1\n")

	b, err := New(Config{DataDir: dataDir, Logger: hclog.NewNullLogger(), GOPROXY: "off", GOCACHE: t.TempDir(), GOMODCACHE: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !testutil.Alive(pid) {
		t.Fatal("a process a stale build pid file named was killed")
	}
	if left := pidFiles(t, dataDir); len(left) != 0 {
		t.Fatalf("stale build pid files kept: %v", left)
	}
}
