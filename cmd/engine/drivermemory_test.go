package main

import (
	"strings"
	"testing"
)

func TestDriverMemoryLimitFlag(t *testing.T) {
	t.Parallel()
	o, err := parseOptions("serve", []string{"--auth", "none"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if o.DriverMemoryLimit.v != 512<<20 || o.DriverMemoryLimit.String() != "512MiB" {
		t.Fatalf("default = %d (%s)", o.DriverMemoryLimit.v, o.DriverMemoryLimit.String())
	}
	for in, want := range map[string]int64{"1GiB": 1 << 30, "512MB": 512e6, "off": 0, "0": 0} {
		o, err := parseOptions("serve", []string{"--auth", "none", "--driver-memory-limit", in}, false)
		if err != nil || o.DriverMemoryLimit.v != want {
			t.Errorf("--driver-memory-limit %s = %d, %v; want %d", in, o.DriverMemoryLimit.v, err, want)
		}
	}
	for _, in := range []string{"lots", "64MiB", "-1"} {
		_, err := parseOptions("serve", []string{"--auth", "none", "--driver-memory-limit", in}, false)
		if err == nil || !strings.Contains(err.Error(), "driver-memory-limit") {
			t.Errorf("--driver-memory-limit %s: %v, want a refusal naming the flag", in, err)
		}
	}
	// A driver's own memory_limit wins; without one (or for a binary no module uses) the flag.
	for _, tc := range []struct {
		driver string
		ok     bool
		want   int64
	}{{"1GiB", true, 1 << 30}, {"off", true, 0}, {"", true, 512 << 20}, {"1GiB", false, 512 << 20}} {
		if got := driverMemoryLimit(512<<20, tc.driver, tc.ok); got != tc.want {
			t.Errorf("driverMemoryLimit(%q, %v) = %d, want %d", tc.driver, tc.ok, got, tc.want)
		}
	}
}
