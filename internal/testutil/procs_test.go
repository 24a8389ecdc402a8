package testutil

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestProcessHelpers(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !Alive(pid) {
		t.Fatal("a started process is not alive")
	}
	if !slices.Contains(Children(os.Getpid()), pid) {
		t.Fatalf("child %d not among %v", pid, Children(os.Getpid()))
	}
	if got := ChildrenRunning(Exe(pid)); !slices.Contains(got, pid) {
		t.Fatalf("ChildrenRunning(%s) = %v", Exe(pid), got)
	}
	_ = cmd.Process.Kill()
	// Unreaped, the child is a zombie, which already counts as gone.
	WaitGone(t, pid)
	_ = cmd.Wait()
	if Alive(pid) {
		t.Fatal("a reaped process is alive")
	}
}

func TestFreeze(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	if stopped(pid) {
		t.Fatal("a running process counts as stopped")
	}
	Freeze(t, pid)
	if !stopped(pid) {
		t.Fatal("Freeze returned before the process stopped")
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 10*time.Second, "the process running again", func() bool { return !stopped(pid) })
}

func TestGoroutines(t *testing.T) {
	release := make(chan struct{})
	for range 3 {
		go parkedForTest(release)
	}
	WaitGoroutines(t, 5*time.Second, "testutil.parkedForTest", 3)
	close(release)
	WaitGoroutines(t, 5*time.Second, "testutil.parkedForTest", 0)
}

func parkedForTest(release chan struct{}) { <-release }
