package testutil

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Alive reports whether pid names a running process. A zombie (exited, not yet reaped) counts as
// gone: it holds no resources a test cares about and go-plugin reaps it shortly.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	state, ok := procState(pid)
	return ok && state != 'Z' && state != 'X'
}

// WaitGone fails t unless every pid has exited within 10 s.
func WaitGone(t testing.TB, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var alive []int
		for _, pid := range pids {
			if Alive(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes still running after 10s: %v", alive)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Children lists the live direct children of pid.
func Children(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(child); ok && ppid == pid && Alive(child) {
			out = append(out, child)
		}
	}
	return out
}

// ChildrenRunning lists the live direct children of this test process that run binary, e.g.
// the driver processes a test launched (go build children and the like are left out).
func ChildrenRunning(binary string) []int {
	want, err := filepath.EvalSymlinks(binary)
	if err != nil {
		want = binary
	}
	var out []int
	for _, pid := range Children(os.Getpid()) {
		if Exe(pid) == want {
			out = append(out, pid)
		}
	}
	return out
}

// Exe is the path of the binary pid runs ("" if unknown), without the " (deleted)" the kernel
// adds when the file was replaced.
func Exe(pid int) string {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(exe, " (deleted)")
}

// procStat returns the fields after the command name of /proc/<pid>/stat; the name is in
// parentheses and may itself hold spaces or parentheses.
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	return statFields(b)
}

// statFields returns the fields of a stat file's text b after the command name.
func statFields(b []byte) ([]string, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(b[i+1:])), true
}

func procState(pid int) (byte, bool) {
	f, ok := procStat(pid)
	if !ok || len(f) < 1 || len(f[0]) == 0 {
		return 0, false
	}
	return f[0][0], true
}

func parentOf(pid int) (int, bool) {
	f, ok := procStat(pid)
	if !ok || len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// Freeze stops pid with SIGSTOP and waits, failing t after 10 s, until every one of its threads
// is stopped. kill(2) returns once the signal is queued: the kernel wakes one thread to begin
// the stop, and until that thread is scheduled (a while, on a loaded machine) the others run on
// and may still read and answer a request sent after Freeze would have returned.
func Freeze(t testing.TB, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %d: %v", pid, err)
	}
	Eventually(t, 10*time.Second, fmt.Sprintf("every thread of process %d stopped", pid), func() bool { return stopped(pid) })
}

// stopped reports whether every thread of pid is stopped (state T, or t under a tracer).
func stopped(pid int) bool {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/stat")
		if err != nil {
			return false
		}
		f, ok := statFields(b)
		if !ok || len(f) < 1 || (f[0] != "T" && f[0] != "t") {
			return false
		}
	}
	return true
}
