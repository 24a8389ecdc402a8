//go:build !unix

package builder

import "os/exec"

func setProcessGroup(*exec.Cmd) {}
