package proctree

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/placeos-go/engine/internal/testutil"
)

// startTree runs a shell in its own group and marked, with a child sleeping; it returns the
// shell's family.
func startTree(t *testing.T) (Family, *exec.Cmd) {
	t.Helper()
	f := Family{Env: "PROCTREE_TEST_MARK", Mark: NewMark()}
	cmd := exec.Command("sh", "-c", "sleep 30 & wait")
	cmd.Env = append(os.Environ(), f.Env+"="+f.Mark)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) // best effort: the test killed it
	f.Leader = cmd.Process.Pid
	_, f.Start, _ = Info(f.Leader)
	return f, cmd
}

func TestFamilyKill(t *testing.T) {
	t.Parallel()
	f, cmd := startTree(t)
	testutil.Eventually(t, 5*time.Second, "the shell and its sleep", func() bool { return len(f.Alive()) == 2 })
	left := f.Alive()
	if !slices.Contains(left, cmd.Process.Pid) {
		t.Fatalf("members %v lack the leader %d", left, cmd.Process.Pid)
	}
	f.Kill(0)
	_ = cmd.Wait() // reaps the leader: killed
	testutil.WaitGone(t, left...)
	// A stranger is no member: another mark, another group.
	other, _ := startTree(t)
	if m := f.Alive(); len(m) != 0 || len(other.Members()) == 0 {
		t.Fatalf("live members after the kill: %v; the other tree's: %v", m, other.Members())
	}
}

func TestRunningEngine(t *testing.T) {
	t.Parallel()
	f, _ := startTree(t)
	self := os.Getpid()
	_, start, _ := Info(self)
	for _, c := range []struct {
		record string
		want   int
	}{
		{EngineRecord(), self},                   // its engine runs
		{fmt.Sprintf("%d %d", self, start+1), 0}, // the recorded engine died, and its pid is another's
		{fmt.Sprintf("%d %d", self+1, start), 0}, // started by another engine: reparented since
		{"", 0},                                  // no record: the parent is this process, which adopts orphans
		{"garbage", 0},
	} {
		if got := RunningEngine(f.Leader, c.record); got != c.want {
			t.Errorf("RunningEngine(child, %q) = %d, want %d", c.record, got, c.want)
		}
	}
}

func TestLiveEngine(t *testing.T) {
	t.Parallel()
	self, parent := os.Getpid(), os.Getppid() // the parent stands for another node's engine
	_, start, _ := Info(self)
	_, parentStart, _ := Info(parent)
	for _, c := range []struct {
		record string
		want   int
	}{
		{fmt.Sprintf("%d %d", parent, parentStart), parent}, // another engine that runs
		{fmt.Sprintf("%d %d", parent, parentStart+1), 0},    // its pid is another process's now
		{EngineRecord(), 0},                         // this process is no other engine
		{fmt.Sprintf("%d %d", 999999999, start), 0}, // gone
		{"", 0},
		{"garbage", 0},
		{"0 0", 0},
	} {
		if got := LiveEngine(c.record); got != c.want {
			t.Errorf("LiveEngine(%q) = %d, want %d", c.record, got, c.want)
		}
	}
}

// ExitStatus reads how a child ended while it is a zombie, before it is reaped, as wait would.
func TestExitStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		script string
		kill   bool
		want   string
	}{
		{script: "read x; exit 3", want: "exit status 3"},
		{script: "read x; exit 0", want: "exit status 0"},
		{script: "read x; sleep 30", kill: true, want: "signal: killed"},
	} {
		// Each waits for its stdin to close, so that it runs when first asked.
		cmd := exec.Command("sh", "-c", tc.script)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		if _, ok := ExitStatus(pid); ok {
			t.Fatalf("%q: an exit status while it runs", tc.script)
		}
		if tc.kill {
			_ = cmd.Process.Kill()
		}
		_ = stdin.Close()
		var info unix.Siginfo
		for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
		}
		ws, ok := ExitStatus(pid)
		_ = cmd.Wait() // reaped only now: the status above was read from the zombie
		if !ok || cmd.ProcessState.Sys().(syscall.WaitStatus) != ws || cmd.ProcessState.String() != tc.want {
			t.Fatalf("%q: ExitStatus = %#x %v, wait says %#x (%s), want %s", tc.script, uint32(ws), ok,
				uint32(cmd.ProcessState.Sys().(syscall.WaitStatus)), cmd.ProcessState, tc.want)
		}
	}
}

// A process's environment is read whole, however large: the mark after 64 KiB of other variables
// is found, and one it does not carry is not.
func TestCarriesLargeEnvironment(t *testing.T) {
	t.Parallel()
	f := Family{Env: "PROCTREE_TEST_MARK", Mark: NewMark()}
	cmd := exec.Command("sleep", "30")
	cmd.Env = []string{"BIG=" + strings.Repeat("x", 64<<10), f.Env + "=" + f.Mark}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// Start returns once the exec has begun; the new environment is in place a moment later.
	testutil.Eventually(t, 5*time.Second, "the mark after a 64 KiB variable", func() bool { return f.Carries(cmd.Process.Pid) })
	if (Family{Env: f.Env, Mark: NewMark()}).Carries(cmd.Process.Pid) {
		t.Fatalf("another mark is found")
	}
	if _, start, ok := Info(cmd.Process.Pid); !ok || start == 0 {
		t.Fatalf("Info = %d, %v", start, ok)
	}
}
