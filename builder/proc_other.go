//go:build !linux

package builder

import "os/exec"

func setProcessGroup(*exec.Cmd) {}
