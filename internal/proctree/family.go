package proctree

import (
	"os"
	"strconv"
	"syscall"
	"time"
)

// Family is everything one started process may have started: it runs with Setpgid, so it leads
// its own process group (whose id is its pid), and its environment carries Env=Mark.
type Family struct {
	Leader int
	// Start is the leader's start time (Info): a process of the family started no earlier, which
	// tells its members from a stranger that got the pid as its group id long after the group
	// ended.
	Start uint64
	// Env names the environment variable that holds Mark.
	Env  string
	Mark string
}

// Members lists the live processes of the family other than this process: those in its process
// group and those that left it but carry its mark.
func (f Family) Members() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		pgid, start, ok := Info(pid)
		// What the leader started started after it: older processes are not read further (their
		// environment is the costly read of the scan).
		if !ok || start < f.Start {
			continue
		}
		if f.Leader > 0 && pgid == f.Leader || f.Carries(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// Carries reports whether pid's environment holds the family's mark.
func (f Family) Carries(pid int) bool { return f.Mark != "" && hasEnv(pid, f.Env+"="+f.Mark) }

// Kill ends every process of the family: SIGTERM, then SIGKILL for whatever is still there
// after grace (0: SIGKILL at once). A process that forks while it is being killed is caught by
// the rescans, up to a bound, so a fork bomb cannot hold the caller for ever.
func (f Family) Kill(grace time.Duration) {
	if f.Leader <= 0 && f.Mark == "" {
		return
	}
	sig := syscall.SIGKILL
	if grace > 0 {
		sig = syscall.SIGTERM
	}
	f.killGroup(sig)
	for _, pid := range f.Members() {
		_ = syscall.Kill(pid, sig)
	}
	if grace > 0 {
		deadline := time.Now().Add(grace)
		for len(f.Alive()) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for range 20 {
		left := f.Alive()
		if len(left) == 0 {
			return
		}
		f.killGroup(syscall.SIGKILL)
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killGroup signals the leader's process group: it needs no scan and catches the common case
// at once.
func (f Family) killGroup(sig syscall.Signal) {
	if f.Leader > 0 {
		_ = syscall.Kill(-f.Leader, sig)
	}
}

// Alive is Members without zombies: a killed process its parent has not reaped yet (the leader,
// until its runner waits for it) is gone for every purpose here.
func (f Family) Alive() []int {
	var out []int
	for _, pid := range f.Members() {
		if !IsZombie(pid) {
			out = append(out, pid)
		}
	}
	return out
}
