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
	os.Exit(1)
}

// A node killed during a build takes the go command with it (Pdeathsig), and its next start
// kills the compiler the go command had started; a start on a copy of the data directory while
// the building engine runs leaves the build alone.
func TestKilledEngineLeavesNoBuild(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	folder, dataDir, pidFile := filepath.Join(tmp, "drv"), filepath.Join(tmp, "data"), filepath.Join(tmp, "pids")
	testutil.WriteFile(t, filepath.Join(folder, "go.mod"), "module example.com/drv\n\ngo 1.22\n")
	testutil.WriteFile(t, filepath.Join(folder, "main.go"), "package main\n\nfunc main() {}\n")
	testutil.WriteFile(t, filepath.Join(tmp, "toolexec"), "#!/bin/sh\necho $$ >> \"$HANG_PIDS\"\nexec sleep 3600\n")
	if err := os.Chmod(filepath.Join(tmp, "toolexec"), 0o755); err != nil {
		t.Fatal(err)
	}

	engine := exec.Command(os.Args[0], "-test.run=^$")
	engine.Env = append(os.Environ(), buildHelperEnv+"="+folder, "BUILDER_TEST_DATA="+dataDir, "BUILDER_TEST_PIDS="+pidFile)
	engine.Stderr = &testWriter{t: t}
	if err := engine.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Process.Kill(); _ = engine.Wait() }) // best effort: killed below
	var compiler int
	testutil.Eventually(t, 30*time.Second, "the helper's go build running its compiler", func() bool {
		raw, _ := os.ReadFile(pidFile)
		compiler, _ = strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
		return compiler > 0 && testutil.Alive(compiler)
	})
	t.Cleanup(func() { _ = syscall.Kill(compiler, syscall.SIGKILL) }) // best effort: the test kills it
	goCmd := proctree.Parent(compiler)
	if !strings.HasPrefix(filepath.Base(testutil.Exe(goCmd)), "go") {
		t.Fatalf("the compiler's parent %d runs %s, not the go tool", goCmd, testutil.Exe(goCmd))
	}

	newBuilder := func(dataDir string) *testutil.LockedBuffer {
		logs := &testutil.LockedBuffer{}
		b, err := New(hangingConfig(dataDir, pidFile, hclog.New(&hclog.LoggerOptions{Output: logs})))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		return logs
	}
	copyRunDir := func() string {
		copied := t.TempDir()
		for _, e := range pidFiles(t, dataDir) {
			testutil.WriteFile(t, filepath.Join(copied, "builds", "run", e), testutil.ReadFile(t, filepath.Join(dataDir, "builds", "run", e)))
		}
		return copied
	}

	copied := copyRunDir()
	logs := newBuilder(copied)
	if !testutil.Alive(goCmd) || !testutil.Alive(compiler) {
		t.Fatal("a start on a copy of the data directory killed the running engine's build")
	}
	if !strings.Contains(logs.String(), "left a build a pid file names: the engine that started it still runs") {
		t.Fatalf("leaving the live build was not logged: %s", logs)
	}

	if err := engine.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = engine.Wait() // reports the kill
	testutil.WaitGone(t, goCmd)
	if !testutil.Alive(compiler) {
		t.Fatal("the compiler died with the go command; the restart's cleanup is not tested")
	}
	logs = newBuilder(dataDir)
	testutil.WaitGone(t, compiler)
	if !strings.Contains(logs.String(), "killed a build left by a previous engine") {
		t.Fatalf("the cleanup was not logged: %s", logs)
	}
	if left := pidFiles(t, dataDir); len(left) != 0 {
		t.Fatalf("build pid files left: %v", left)
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
