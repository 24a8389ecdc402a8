//go:build unix

package builder

import (
	"os/exec"
	"syscall"
)

// setProcessGroup makes cancellation kill the go tool and every compiler it started.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
