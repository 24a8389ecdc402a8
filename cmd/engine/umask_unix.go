//go:build unix

package main

import "syscall"

// privateUmask makes every file and folder the engine process creates from now on private to its
// user, including those that libraries create with modes of their own (Raft snapshots 0644,
// go-git clones, the go tool's output). Driver processes inherit it.
func privateUmask() { syscall.Umask(0o077) }
