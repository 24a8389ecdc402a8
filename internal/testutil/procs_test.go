package testutil

import (
	"os"
	"os/exec"
	"slices"
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
