package proctree

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// EngineRecord is this process as a pid file records the engine that started a tree: its pid and
// start time, so a later engine can tell whether that one still runs (RunningEngine).
func EngineRecord() string {
	self := os.Getpid()
	_, start, _ := Info(self)
	return fmt.Sprintf("%d %d", self, start)
}

// RunningEngine returns the pid of the live engine that started process pid, or 0 when pid is an
// orphan. A process's parent changes only when its parent dies: the orphan of a killed engine
// has init (1) or a subreaper as its parent, while a process of an engine that still runs has
// that engine. Both are seen when a node starts on a copy of another node's data directory (a
// restored backup): the pid files name the other node's processes, which are not ours to kill.
//
// record is the pid file's EngineRecord; a pid file written before records existed has none, and
// then a parent that is this process or one of its ancestors (the subreaper that took the dead
// engine's processes: systemd, a container's init) counts as no engine.
func RunningEngine(pid int, record string) int {
	ppid := Parent(pid)
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
	if _, s, ok := Info(ppid); !ok || s != start {
		return 0
	}
	return ppid
}

// isAncestor reports whether pid is this process or one of its ancestors.
func isAncestor(pid int) bool {
	for p := os.Getpid(); p > 1; p = Parent(p) {
		if p == pid {
			return true
		}
	}
	return false
}
