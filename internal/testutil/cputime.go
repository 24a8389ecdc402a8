package testutil

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Sched is the scheduler's account of process pid's live threads so far (zero if it is gone),
// from /proc/PID/task/*/schedstat: the CPU time they ran, in nanoseconds rather than the 10 ms
// ticks of /proc/PID/stat, fine enough to divide a benchmark run's CPU time by its calls; and how
// many times a thread was put on a CPU (each wake-up of a sleeping thread is one), which tells
// how often a call hands work from one thread to another. Threads that have exited are not
// counted (a Go program's threads rarely exit).
func Sched(pid int) (cpu time.Duration, runs int64) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) == 3 {
			ns, err1 := strconv.ParseInt(f[0], 10, 64)
			n, err2 := strconv.ParseInt(f[2], 10, 64)
			if err1 == nil && err2 == nil {
				cpu += time.Duration(ns)
				runs += n
			}
		}
	}
	return cpu, runs
}
