package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// engineRecord is the pid file line naming the engine that launched the process: its pid and
// start time, so the next start can tell whether that engine still runs.
func engineRecord() string {
	self := os.Getpid()
	_, start, _ := procInfo(self)
	return fmt.Sprintf("%d %d", self, start)
}

// parentOf is pid's parent process id (0 if pid is gone).
func parentOf(pid int) int {
	f, ok := procStat(pid)
	if !ok {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1]) // f[1] is field 4, ppid
	return ppid
}

// runningEngine returns the pid of the live engine that launched driver process pid, or 0 when
// the driver is an orphan. A process's parent changes only when its parent dies: the orphan of a
// killed engine has init (1) or a subreaper as its parent, a driver of an engine that runs still
// has that engine. That happens when a node starts on a copy of another node's data directory
// (a restored backup): the pid files name the other node's drivers, which are not ours to kill.
//
// record is the pid file's engine line (engineRecord); a pid file written before it existed has
// none, and then a parent that is this engine or one of its ancestors (the subreaper that took
// the dead engine's drivers, systemd or a container's init) counts as no engine.
func runningEngine(pid int, record string) int {
	ppid := parentOf(pid)
	if ppid <= 1 {
		return 0
	}
	if record == "" {
		if isAncestor(ppid) {
			return 0
		}
		return ppid
	}
	pidText, startText, _ := strings.Cut(record, " ")
	engine, err1 := strconv.Atoi(pidText)
	start, err2 := strconv.ParseUint(startText, 10, 64)
	if err1 != nil || err2 != nil || engine != ppid {
		return 0
	}
	if _, s, ok := procInfo(ppid); !ok || s != start {
		return 0
	}
	return ppid
}

// isAncestor reports whether pid is this process or one of its ancestors.
func isAncestor(pid int) bool {
	for p := os.Getpid(); p > 1; p = parentOf(p) {
		if p == pid {
			return true
		}
	}
	return false
}
