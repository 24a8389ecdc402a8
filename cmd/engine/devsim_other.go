//go:build !linux

package main

import "syscall"

// simProcAttr has no parent-death signal to ask for outside Linux: a simulator outlives an
// engine dev that dies without stopping it.
func simProcAttr() *syscall.SysProcAttr { return nil }
