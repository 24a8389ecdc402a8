package supervisor

import (
	"fmt"
	"os"
)

// binaryReplaced reports whether the file at the binary's path is no longer the file the process
// runs: a new build renamed over it, the safe way to replace a running binary (writing over it
// fails with "text file busy"). The process keeps the old code and the supervisor keys drivers by
// path, so nothing would otherwise tell that the new file is not running. It reads
// /proc/<pid>/exe, so it reports nothing where there is no /proc.
func (p *process) binaryReplaced() bool {
	running, err := os.Stat(fmt.Sprintf("/proc/%d/exe", p.pid))
	if err != nil {
		return false
	}
	onDisk, err := os.Stat(p.binary)
	return err == nil && !os.SameFile(running, onDisk)
}
