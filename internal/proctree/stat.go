package proctree

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"syscall"
)

// NewMark returns a random mark for a tree's environment variable.
func NewMark() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand does not fail on Linux
	return hex.EncodeToString(b)
}

// Info is what /proc/<pid>/stat says about a process: its process group id and start time (in
// clock ticks since boot).
func Info(pid int) (pgid int, start uint64, ok bool) {
	f, ok := stat(pid)
	if !ok {
		return 0, 0, false
	}
	// f[0] is field 3 (state): pgrp is field 5, starttime field 22.
	pgid, err1 := strconv.Atoi(f[2])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	return pgid, start, err1 == nil && err2 == nil
}

// Parent is pid's parent process id (0 if pid is gone).
func Parent(pid int) int {
	f, ok := stat(pid)
	if !ok {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1]) // field 4
	return ppid
}

// ExitStatus is the wait status of pid once it has exited and before it is reaped (a zombie),
// as wait would return it: field 52 of /proc/<pid>/stat (Linux 3.5 and later). It lets the parent
// learn how a child ended while the child's pid still holds its process group; false while pid
// runs or where the field is missing.
func ExitStatus(pid int) (syscall.WaitStatus, bool) {
	f, ok := stat(pid)
	if !ok || f[0] != "Z" || len(f) < 50 {
		return 0, false
	}
	code, err := strconv.ParseUint(f[49], 10, 32)
	return syscall.WaitStatus(code), err == nil
}

// IsZombie reports whether pid has exited (or is gone): a zombie holds nothing but its pid.
func IsZombie(pid int) bool {
	f, ok := stat(pid)
	return !ok || f[0] == "Z" || f[0] == "X"
}

// stat is the fields of /proc/<pid>/stat from the third (state) on.
func stat(pid int) ([]string, bool) {
	raw, err := readProc(pid, "stat", 512)
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

// hasEnv reports whether pid's environment holds the entry kv (NAME=value).
func hasEnv(pid int, kv string) bool {
	env, err := readProc(pid, "environ", 4096)
	if err != nil {
		return false
	}
	want := []byte(kv)
	for e := range bytes.SplitSeq(env, []byte{0}) {
		if bytes.Equal(e, want) {
			return true
		}
	}
	return false
}

// readProc reads /proc/<pid>/<name> with plain system calls into a buffer of size bytes, grown as
// needed. os.ReadFile cost four times the read itself here (a stat for the size, the poller's
// registration attempt, its file bookkeeping), and a family's scan reads a file of every process
// on the machine, on the way of a driver's relaunch.
func readProc(pid int, name string, size int) ([]byte, error) {
	fd, err := syscall.Open("/proc/"+strconv.Itoa(pid)+"/"+name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer func() { _ = syscall.Close(fd) }()
	buf := make([]byte, size)
	n := 0
	for {
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
		m, err := syscall.Read(fd, buf[n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, err
		case m == 0:
			return buf[:n], nil
		}
		n += m
	}
}
