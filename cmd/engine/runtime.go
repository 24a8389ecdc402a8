package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/placeos-go/engine/model"
)

// Runtime settings of the engine process (docs/protocol.md §1.2): the garbage collector's target
// (--gc-percent, as GOGC), a soft memory limit (--memory-limit, as GOMEMLIMIT) and how many CPUs
// run Go code at once (--gomaxprocs, as GOMAXPROCS). "auto" chooses from the machine (autoRuntime);
// the Go variables, when set, win over auto, as they would without the engine's choice. Also the
// GOMAXPROCS of the driver processes (--driver-gomaxprocs), which the engine's own environment
// does not reach: drivers get only the variables meant for them.

// gcPercentFlag is --gc-percent: auto, off or a percentage (0 or more).
type gcPercentFlag struct{ v string }

func (f *gcPercentFlag) String() string { return f.v }

func (f *gcPercentFlag) Set(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	if s != "auto" && s != "off" {
		if n, err := strconv.Atoi(s); err != nil || n < 0 {
			return fmt.Errorf("want auto, off or a percentage such as 100, not %q", s)
		}
	}
	f.v = s
	return nil
}

// percent is the setting as debug.SetGCPercent takes it (-1: off); auto is not one.
func (f *gcPercentFlag) percent() int {
	if f.v == "off" {
		return -1
	}
	n, _ := strconv.Atoi(f.v)
	return n
}

// memoryLimitFlag is --memory-limit: auto, off, a size (model.ParseSize), or a percentage of the
// machine's memory ("25%").
type memoryLimitFlag struct{ v string }

func (f *memoryLimitFlag) String() string { return f.v }

func (f *memoryLimitFlag) Set(s string) error {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "auto", "off":
		f.v = strings.ToLower(s)
		return nil
	}
	if _, err := parseMemoryLimit(s, 1<<30); err != nil {
		return err
	}
	f.v = s
	return nil
}

// parseMemoryLimit reads a size (model.ParseSize, as every size the engine takes) or a
// percentage of total.
func parseMemoryLimit(s string, total int64) (int64, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 {
			return 0, fmt.Errorf("want a percentage above 0 and at most 100, not %q", s)
		}
		return int64(float64(total) * f / 100), nil
	}
	n, err := model.ParseSize(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want auto, off, a size such as 512MiB or 2GiB or a percentage of the machine's memory such as 25%%, not %q", s)
	}
	return n, nil
}

// maxProcsFlag is --gomaxprocs: auto or a number of CPUs (1 or more).
type maxProcsFlag struct{ v string }

func (f *maxProcsFlag) String() string { return f.v }

func (f *maxProcsFlag) Set(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	if s != "auto" {
		if n, err := strconv.Atoi(s); err != nil || n < 1 {
			return fmt.Errorf("want auto or a number of CPUs (1 or more), not %q", s)
		}
	}
	f.v = s
	return nil
}

// runtimeChoice is what applyRuntime set, for the start-up log.
type runtimeChoice struct {
	GCPercent   int   // -1: off
	MemoryLimit int64 // math.MaxInt64: none
	MaxProcs    int
	// DriverMaxProcs is GOMAXPROCS of the driver processes, 0: the Go runtime's own choice.
	DriverMaxProcs int
	CPUs           int   // the machine's (or the CPU affinity's)
	Memory         int64 // the machine's (or its cgroup's limit), 0 when unknown
	Why            []string
	// stopGCFloor ends --gc-percent auto's raised target (gcFloor); nil when it is not running.
	stopGCFloor func()
}

// stop ends what applyRuntime started.
func (c runtimeChoice) stop() {
	if c.stopGCFloor != nil {
		c.stopGCFloor()
	}
}

// applyRuntime sets the garbage collector's target, the memory limit and GOMAXPROCS from the
// flags, "auto" from the machine (autoRuntime), and says what it chose.
func applyRuntime(o *options) runtimeChoice {
	c := runtimeChoice{CPUs: runtime.NumCPU(), Memory: machineMemory()}
	auto := autoRuntime(runtime.GOMAXPROCS(0)) // the runtime's own choice, or GOMAXPROCS's
	switch {
	case o.GCPercent.v != "auto":
		c.GCPercent = o.GCPercent.percent()
		debug.SetGCPercent(c.GCPercent)
	case os.Getenv("GOGC") != "":
		c.GCPercent = envGCPercent(os.Getenv("GOGC")) // the runtime applied it at start
		c.Why = append(c.Why, "gc percent from GOGC")
	default:
		c.GCPercent = auto.GCPercent
		c.stopGCFloor = startGCFloor(gcFloorMin)
	}
	switch {
	case o.MemoryLimit.v == "off":
		c.MemoryLimit = math.MaxInt64
		debug.SetMemoryLimit(c.MemoryLimit)
	case o.MemoryLimit.v != "auto":
		n, _ := parseMemoryLimit(o.MemoryLimit.v, c.Memory)
		debug.SetMemoryLimit(n)
		c.MemoryLimit = n
	case os.Getenv("GOMEMLIMIT") != "":
		c.MemoryLimit = debug.SetMemoryLimit(-1) // a negative limit reads it, changing nothing
		c.Why = append(c.Why, "memory limit from GOMEMLIMIT")
	default:
		debug.SetMemoryLimit(auto.MemoryLimit)
		c.MemoryLimit = auto.MemoryLimit
	}
	switch {
	case o.MaxProcs.v != "auto":
		n, _ := strconv.Atoi(o.MaxProcs.v)
		runtime.GOMAXPROCS(n)
		c.MaxProcs = n
	case os.Getenv("GOMAXPROCS") != "":
		c.MaxProcs = runtime.GOMAXPROCS(0)
		c.Why = append(c.Why, "gomaxprocs from GOMAXPROCS")
	case auto.MaxProcs > 0:
		runtime.GOMAXPROCS(auto.MaxProcs)
		c.MaxProcs = auto.MaxProcs
		c.Why = append(c.Why, "gomaxprocs 1 on a 2-CPU node")
	default:
		c.MaxProcs = runtime.GOMAXPROCS(0) // the Go runtime's own (CPUs, or the cgroup's quota)
	}
	if o.DriverMaxProcs.v != "auto" {
		c.DriverMaxProcs, _ = strconv.Atoi(o.DriverMaxProcs.v)
	} else if c.DriverMaxProcs = auto.DriverMaxProcs; c.DriverMaxProcs > 0 {
		c.Why = append(c.Why, "driver gomaxprocs 1 on a 2-CPU node")
	}
	return c
}

// gcText is the GC target for the start-up line: off, a percentage, or auto's.
func (c runtimeChoice) gcText() string {
	switch {
	case c.GCPercent < 0:
		return "off"
	case c.stopGCFloor != nil:
		return strconv.Itoa(c.GCPercent) + ", raised while the live heap is under " + sizeText(gcFloorMin)
	default:
		return strconv.Itoa(c.GCPercent)
	}
}

// driverEnv is the Go runtime's settings for the driver processes, as variables of their
// environment.
func (c runtimeChoice) driverEnv() []string {
	if c.DriverMaxProcs <= 0 {
		return nil
	}
	return []string{"GOMAXPROCS=" + strconv.Itoa(c.DriverMaxProcs)}
}

// autoRuntime is what "auto" means on a machine where the Go runtime would run procs CPUs at once
// (its own GOMAXPROCS: the CPUs, or a container's CPU quota). MaxProcs 0 leaves that choice.
// Measured with BenchmarkExecuteSettings (BENCHMARKS.md) on a 2-CPU machine shared with the
// driver processes and clients, against Go's defaults (100, no limit, 2):
//
//   - GOMAXPROCS 1 on a node Go would give 2 CPUs, for the engine and for its drivers. The
//     engine: REST execute 1.00–1.19× at 1 client (median
//     1.14×) over five runs, 0.85–1.16× at 32 (median 0.96×: level within the runs' noise). The
//     engine's work per call is a chain of hand-offs between goroutines (HTTP connection, gRPC
//     writer and reader); on one P they pass on one thread, where with two each wakes the
//     other's thread, and the second P spins for work on a CPU the drivers need. The drivers:
//     a driver process answers calls the same way (a gRPC reader, the call, a writer), and with
//     one P it spent 17–19 µs of CPU per execute at 32 clients against 24–25 µs with two, and
//     108–120 against 145–155 µs at 1 client (BenchmarkExecute's CPU rows), leaving the CPUs to the engine
//     and the clients: REST execute 3–6 % faster at 32 clients. A driver is I/O-bound (devices,
//     sockets); one that computes a lot can be given more with --driver-gomaxprocs. Larger
//     machines keep Go's choice: not measured here.
//   - --gc-percent 400: 1.00–1.10× at 1 client and 1.03–1.16× at 32 with two Ps, 1.02–1.18× and
//     0.96–1.05× with one, for +30 % RSS that grows with the heap. At the engine's present CPU per
//     call, 200 and 400 measured 5–7 % faster at 32 clients with one P, level at 1
//     client: what pays is fewer collections of a small heap, not a larger heap. So auto keeps
//     Go's 100 but lets the heap grow by at least 8 MiB between collections (gcFloor): 200 % at
//     a 4 MiB live heap, Go's own 100 % from 8 MiB up; no memory limit is needed to bound it.
func autoRuntime(procs int) runtimeChoice {
	c := runtimeChoice{GCPercent: 100, MemoryLimit: math.MaxInt64}
	if procs == 2 {
		c.MaxProcs, c.DriverMaxProcs = 1, 1
	}
	return c
}

// machineMemory is the memory this process may use: the cgroup's limit when there is one (v2,
// else v1), else the machine's (MemTotal); 0 when unknown.
func machineMemory() int64 {
	total := memTotal()
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			return n
		}
	}
	return total
}

// memTotal is MemTotal of /proc/meminfo, 0 when unknown.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			fields := strings.Fields(rest) // "24683840 kB"
			if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil && len(fields) == 2 && fields[1] == "kB" {
				return n << 10
			}
		}
	}
	return 0
}

// envGCPercent reads GOGC as the runtime does: off, or a percentage (100 when unreadable).
func envGCPercent(v string) int {
	if strings.EqualFold(v, "off") {
		return -1
	}
	if n, err := strconv.Atoi(v); err == nil {
		return n
	}
	return 100
}

// sizeText is a byte count as GOMEMLIMIT would write it ("none" for no limit, "unknown" for 0).
func sizeText(n int64) string {
	switch {
	case n == math.MaxInt64:
		return "none"
	case n <= 0:
		return "unknown"
	case n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + "GiB"
	default:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	}
}

// maxProcsText is a GOMAXPROCS choice for the log: 0 is the Go runtime's own.
func maxProcsText(n int) string {
	if n <= 0 {
		return "go-default"
	}
	return strconv.Itoa(n)
}
