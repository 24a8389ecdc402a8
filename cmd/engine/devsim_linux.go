package main

import "syscall"

// simProcAttr puts the simulator in a process group of its own, so that Ctrl-C in the terminal
// reaches engine dev alone, which stops it on its way out; and has the kernel kill it should
// engine dev die without stopping it.
func simProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
