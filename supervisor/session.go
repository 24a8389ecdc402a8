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
// tree. A child that calls setsid leaves the driver's session and group, but it keeps its
// parent's environment unless it clears it on purpose, and /proc/<pid>/environ of a process of
// the engine's own user is readable: the mark is how such a child is found after its driver is
// gone (its parent is then init, so the process tree no longer leads to it).
const instanceEnv = "ENGINE_DRIVER_INSTANCE"

// session is everything one driver process may have started: it runs with Setsid, so it leads
// its own session and process group (both ids are its pid), and its environment carries mark.
type session struct {
	leader int
	// start is the leader's start time in clock ticks since boot (/proc/<pid>/stat field 22): a
	// process of the session started no earlier, which tells its members from a stranger that got
	// the pid as its session id long after the session ended.
	start uint64
	mark  string
}

func newMark() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand does not fail on Linux
	return hex.EncodeToString(b)
}

// procInfo is what /proc/<pid>/stat says about a process: its session id and start time.
func procInfo(pid int) (sid int, start uint64, ok bool) {
	f, ok := procStat(pid)
	if !ok {
		return 0, 0, false
	}
	// f[0] is field 3 (state): sid is field 6, starttime field 22.
	sid, err1 := strconv.Atoi(f[3])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	return sid, start, err1 == nil && err2 == nil
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

// hasMark reports whether pid's environment holds the session's mark.
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

// members lists the live processes of the session other than the engine itself: those in it
// (session id) and those that left it but carry its mark.
func (ss session) members() []int {
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
		sid, start, ok := procInfo(pid)
		if !ok {
			continue
		}
		ours := ss.leader > 0 && sid == ss.leader && start >= ss.start
		if ours || hasMark(pid, ss.mark) {
			out = append(out, pid)
		}
	}
	return out
}

// kill ends every process of the session: SIGTERM, then SIGKILL for whatever is still there
// after grace (0: SIGKILL at once). A process that forks while it is being killed is caught by
// the rescans, up to a bound, so a fork bomb cannot hold the caller for ever.
func (ss session) kill(grace time.Duration) {
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
func (ss session) killGroup(sig syscall.Signal) {
	if ss.leader > 0 {
		_ = syscall.Kill(-ss.leader, sig)
	}
}

// alive is members without zombies: a killed process the engine has not reaped yet (the leader,
// until its runner waits for it) is gone for every purpose here.
func (ss session) alive() []int {
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
