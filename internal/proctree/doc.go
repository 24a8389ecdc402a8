// Package proctree finds and kills the process trees the engine starts (driver processes, go
// builds) from what Linux's /proc says about them, also after the engine that started them was
// killed: a tree is a process group plus every process carrying a mark in its environment (a
// child that left the group keeps its parent's environment), and a pid file records the engine
// that started it, so that the next engine can tell an orphan from a tree whose engine still runs.
//
// Processes are only ever the engine's own user's: /proc/<pid>/environ of another user's process
// is unreadable, so a mark never matches one.
package proctree
