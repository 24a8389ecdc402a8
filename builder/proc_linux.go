//go:build linux

package builder

import (
	"os/exec"
	"syscall"
)

// setProcessGroup makes cancellation kill the go tool and every compiler it started, and the go
// tool die with the engine: a killed engine's build would otherwise run on, for minutes and GBs,
// writing into a data directory its next start builds in too. Pdeathsig fires when the thread
// that started the process ends, so runTracked starts it on a thread of its own.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
