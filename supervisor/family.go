package supervisor

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// instanceEnv names the environment variable that marks every process of one driver process's
// tree. A child that calls setsid or setpgid leaves the driver's process group, but it keeps its
// parent's environment unless it clears it on purpose, and /proc/<pid>/environ of a process of
// the engine's own user is readable: the mark is how such a child is found after its driver is
// gone (its parent is then init, so the process tree no longer leads to it).
const instanceEnv = "ENGINE_DRIVER_INSTANCE"

// family is everything one driver process may have started: it runs with Setpgid, so it leads
// its own process group (whose id is its pid), and its environment carries mark.
//
// A process group, not a session: on Linux with autogroup scheduling (the default on desktop and
// many server kernels) every new session is a scheduling group of its own, which cost each
// execute about 7 µs more CPU in the driver (BenchmarkExecute, 32 clients: 36 µs against 27 µs)
// and would give one busy driver as much CPU as the whole engine. A child that leaves the group
// keeps the mark, so a group finds what a session would have.
type family struct {
	leader int
	// start is the leader's start time in clock ticks since boot (/proc/<pid>/stat field 22): a
	// process of the family started no earlier, which tells its members from a stranger that got
	// the pid as its group id long after the group ended.
	start uint64
	mark  string
}

func newMark() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand does not fail on Linux
	return hex.EncodeToString(b)
}

// procInfo is what /proc/<pid>/stat says about a process: its process group id and start time.
func procInfo(pid int) (pgid int, start uint64, ok bool) {
	f, ok := procStat(pid)
	if !ok {
		return 0, 0, false
	}
	// f[0] is field 3 (state): pgrp is field 5, starttime field 22.
	pgid, err1 := strconv.Atoi(f[2])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	return pgid, start, err1 == nil && err2 == nil
}

// procStat is the fields of /proc/<pid>/stat from the third (state) on.
func procStat(pid int) ([]string, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	// The command name (field 2) may hold spaces and parentheses; the fields after it are plain.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(string(raw[i+1:]))
	return f, len(f) >= 20
}

// hasMark reports whether pid's environment holds the family's mark.
func hasMark(pid int, mark string) bool {
	if mark == "" {
		return false
	}
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	want := []byte(instanceEnv + "=" + mark)
	for kv := range bytes.SplitSeq(env, []byte{0}) {
		if bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}

// members lists the live processes of the family other than the engine itself: those in its
// process group and those that left it but carry its mark.
func (ss family) members() []int {
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
		pgid, start, ok := procInfo(pid)
		if !ok {
			continue
		}
		ours := ss.leader > 0 && pgid == ss.leader && start >= ss.start
		if ours || hasMark(pid, ss.mark) {
			out = append(out, pid)
		}
	}
	return out
}

// kill ends every process of the family: SIGTERM, then SIGKILL for whatever is still there
// after grace (0: SIGKILL at once). A process that forks while it is being killed is caught by
// the rescans, up to a bound, so a fork bomb cannot hold the caller for ever.
func (ss family) kill(grace time.Duration) {
	if ss.leader <= 0 && ss.mark == "" {
		return
	}
	sig := syscall.SIGKILL
	if grace > 0 {
		sig = syscall.SIGTERM
	}
	ss.killGroup(sig)
	for _, pid := range ss.members() {
		_ = syscall.Kill(pid, sig)
	}
	if grace > 0 {
		deadline := time.Now().Add(grace)
		for len(ss.alive()) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for range 20 {
		left := ss.alive()
		if len(left) == 0 {
			return
		}
		ss.killGroup(syscall.SIGKILL)
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killGroup signals the leader's process group: it needs no scan and catches the common case
// at once.
func (ss family) killGroup(sig syscall.Signal) {
	if ss.leader > 0 {
		_ = syscall.Kill(-ss.leader, sig)
	}
}

// alive is members without zombies: a killed process the engine has not reaped yet (the leader,
// until its runner waits for it) is gone for every purpose here.
func (ss family) alive() []int {
	var out []int
	for _, pid := range ss.members() {
		if !isZombie(pid) {
			out = append(out, pid)
		}
	}
	return out
}

func isZombie(pid int) bool {
	f, ok := procStat(pid)
	return !ok || f[0] == "Z" || f[0] == "X"
}
