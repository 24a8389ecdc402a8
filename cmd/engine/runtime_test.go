package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestRuntimeFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		flag, value string
		ok          bool
	}{
		{"gc-percent", "auto", true}, {"gc-percent", "OFF", true}, {"gc-percent", "400", true}, {"gc-percent", "0", true},
		{"gc-percent", "-1", false}, {"gc-percent", "lots", false},
		{"memory-limit", "auto", true}, {"memory-limit", "off", true}, {"memory-limit", "512MiB", true},
		{"memory-limit", "1.5GiB", true}, {"memory-limit", "1073741824", true}, {"memory-limit", "25%", true},
		{"memory-limit", "0", false}, {"memory-limit", "512XB", false}, {"memory-limit", "150%", false}, {"memory-limit", "-1GiB", false},
		{"memory-limit", "512MB", true}, {"memory-limit", "1g", true}, // every size flag takes the same forms (model.ParseSize)
		{"gomaxprocs", "auto", true}, {"gomaxprocs", "1", true}, {"gomaxprocs", "0", false}, {"gomaxprocs", "two", false},
		{"driver-gomaxprocs", "AUTO", true}, {"driver-gomaxprocs", " 2", true}, {"driver-gomaxprocs", "0", false},
		{"driver-gomaxprocs", "-1", false}, {"driver-gomaxprocs", "1.5", false},
	} {
		fs := (&options{}).flagSet("serve", false)
		if err := fs.Set(tt.flag, tt.value); (err == nil) != tt.ok {
			t.Errorf("--%s=%s: %v, want ok %v", tt.flag, tt.value, err, tt.ok)
		}
	}
}

func TestParseMemoryLimit(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"512MiB": 512 << 20, "2GiB": 2 << 30, "1.5KiB": 1536, "100": 100, "100B": 100, "50%": 1 << 29, "512MB": 512e6, "1G": 1 << 30} {
		if got, err := parseMemoryLimit(in, 1<<30); err != nil || got != want {
			t.Errorf("%s: %d %v, want %d", in, got, err, want)
		}
	}
}

func TestAutoRuntime(t *testing.T) {
	t.Parallel()
	for procs, want := range map[int]int{1: 0, 2: 1, 3: 0, 8: 0} {
		if c := autoRuntime(procs); c.MaxProcs != want || c.DriverMaxProcs != want || c.GCPercent != 100 || c.MemoryLimit != math.MaxInt64 {
			t.Errorf("%d CPUs: %+v, want gomaxprocs %d for the engine and its drivers (0: Go's), gc 100, no limit", procs, c, want)
		}
	}
}

// TestApplyRuntime sets the process's own runtime settings (and puts them back): not parallel.
func TestApplyRuntime(t *testing.T) {
	procs, gc, limit := runtime.GOMAXPROCS(0), debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs); debug.SetGCPercent(gc); debug.SetMemoryLimit(limit) })
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOMAXPROCS", "")
	o, err := parseOptions("serve", []string{"--auth", "none", "--gc-percent", "250", "--memory-limit", "300MiB", "--gomaxprocs", "3", "--driver-gomaxprocs", "4"}, false)
	if err != nil {
		t.Fatal(err)
	}
	c := applyRuntime(o)
	if c.GCPercent != 250 || c.MemoryLimit != 300<<20 || c.MaxProcs != 3 || c.DriverMaxProcs != 4 {
		t.Fatalf("chose %+v", c)
	}
	if len(c.Why) != 0 || c.gcText() != "250" {
		t.Fatalf("flags alone chose, yet the start-up line says %q (gc %q)", c.Why, c.gcText())
	}
	if env := c.driverEnv(); len(env) != 1 || env[0] != "GOMAXPROCS=4" {
		t.Fatalf("driver environment %q, want GOMAXPROCS=4", env)
	}
	if runtime.GOMAXPROCS(0) != 3 || debug.SetGCPercent(250) != 250 || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Fatal("the runtime does not have the settings")
	}
	// A Go variable wins over auto.
	t.Setenv("GOGC", "off")
	o, err = parseOptions("serve", []string{"--auth", "none", "--memory-limit", "off"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if c := applyRuntime(o); c.GCPercent != -1 || c.MemoryLimit != math.MaxInt64 || c.stopGCFloor != nil || c.gcText() != "off" {
		t.Fatalf("with GOGC=off: %+v (gc %q)", c, c.gcText())
	}
	// auto: Go's 100 with the floor under it (gcFloor).
	t.Setenv("GOGC", "")
	o, err = parseOptions("serve", []string{"--auth", "none"}, false)
	if err != nil {
		t.Fatal(err)
	}
	c = applyRuntime(o)
	t.Cleanup(c.stop)
	if c.GCPercent != 100 || c.stopGCFloor == nil || !strings.HasPrefix(c.gcText(), "100, raised while the live heap is under 8MiB") {
		t.Fatalf("auto: %+v (gc %q), want 100 with the floor running", c, c.gcText())
	}
}
