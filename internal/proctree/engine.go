package proctree

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// EngineRecord is this process as a pid file records the engine that started a tree: its pid and
// start time, so a later engine can tell whether that one still runs (RunningEngine, LiveEngine).
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
	engine, start, ok := parseRecord(record)
	if !ok || engine != ppid || !runs(engine, start) {
		return 0
	}
	return ppid
}

// LiveEngine returns the pid of the engine record (EngineRecord) names when that engine still
// runs and is not this process, else 0. Unlike RunningEngine it needs no process of the tree:
// what a live engine started is its own to stop, also a process that is no longer its child (a
// driver's child that left the driver's group), and also when the leader is gone or its pid
// cannot be told from a stranger's. A record of this process is no other engine: this process
// did not start the tree (it reads the pid files before it starts anything), or it started it
// in a former image (a re-exec keeps pid and start time) and left it behind.
func LiveEngine(record string) int {
	engine, start, ok := parseRecord(record)
	if !ok || engine == os.Getpid() || !runs(engine, start) {
		return 0
	}
	return engine
}

// parseRecord reads an EngineRecord.
func parseRecord(record string) (pid int, start uint64, ok bool) {
	pidText, startText, _ := strings.Cut(record, " ")
	pid, err1 := strconv.Atoi(pidText)
	start, err2 := strconv.ParseUint(startText, 10, 64)
	return pid, start, err1 == nil && err2 == nil && pid > 0
}

// runs reports whether pid is the process that started at start: pid and start time together
// name one process (a reused pid has a later start).
func runs(pid int, start uint64) bool {
	_, s, ok := Info(pid)
	return ok && s == start
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
