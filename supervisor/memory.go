package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// driverOOMScoreAdj is the oom_score_adj of every driver process: above the engine's, so that
// when the machine runs out of memory the kernel kills a driver before the engine. 500 unless the
// engine's own is that high already (a unit's OOMScoreAdjust); raising one's score needs no
// privilege.
func driverOOMScoreAdj() int {
	own := 0
	if raw, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		own, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
	}
	return min(max(500, own+100), 1000)
}

// limitMemory applies the memory limit to a driver process that has just started. The limit is
// RLIMIT_DATA, which since Linux 4.7 counts the anonymous private mappings the Go runtime (and
// malloc) take their heap from: an allocation beyond it fails, and a Go driver dies with "fatal
// error: out of memory", which the stderr pump recognises. RLIMIT_AS would not do: the Go runtime
// reserves far more address space than it uses. The limit is set right after exec, so a
// process may take a few MiB before it applies; children inherit it.
func limitMemory(pid int, limit int64) error {
	if limit <= 0 {
		return nil
	}
	l := unix.Rlimit{Cur: uint64(limit), Max: uint64(limit)}
	if err := unix.Prlimit(pid, unix.RLIMIT_DATA, &l, nil); err != nil {
		return fmt.Errorf("memory limit of driver process %d: %w", pid, err)
	}
	return nil
}

// raiseOOMScore makes pid the kernel's preferred victim over the engine.
func raiseOOMScore(pid int) error {
	path := "/proc/" + strconv.Itoa(pid) + "/oom_score_adj"
	if err := os.WriteFile(path, []byte(strconv.Itoa(driverOOMScoreAdj())), 0); err != nil {
		return fmt.Errorf("oom_score_adj of driver process %d: %w", pid, err)
	}
	return nil
}

// goMemLimitEnv is the GOMEMLIMIT hint for a Go driver under limit: 90 % of it, so the garbage
// collector works harder before the process reaches the hard limit.
func goMemLimitEnv(limit int64) []string {
	if limit <= 0 {
		return nil
	}
	return []string{"GOMEMLIMIT=" + strconv.FormatInt(limit/10*9, 10)}
}

// limitNote is " (limit 512MiB)" for the log and the driver's last_error, "" without a limit.
func limitNote(limit int64) string {
	if limit <= 0 {
		return ""
	}
	return " (limit " + FormatBytes(limit) + ")"
}

// FormatBytes writes n in the largest binary unit that divides it (512MiB, 1GiB, 1536KiB).
func FormatBytes(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
