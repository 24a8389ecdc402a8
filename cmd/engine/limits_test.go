package main

import (
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/httpapi"
)

// The resource limits have their documented defaults, derive --http-write-timeout from
// --exec-timeout, read ENGINE_* variables like every flag, and refuse values that would switch a
// limit off.
func TestLimitFlags(t *testing.T) {
	o, err := parseOptions("serve", []string{"--auth", "none", "--exec-timeout", "90s"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if o.HTTPReadTimeout != httpapi.DefaultReadTimeout || o.HTTPIdleTimeout != httpapi.DefaultIdleTimeout ||
		o.HTTPWriteTimeout != 90*time.Second+time.Minute || o.HTTPMaxConns != httpapi.DefaultMaxConns ||
		o.HTTPMaxConnsPerIP != 0 || o.WSMaxBinds != 1000 || o.WSMaxSessionsPerUser != 100 || o.WSMaxSessions != 10000 {
		t.Fatalf("defaults: %+v", o)
	}
	if o.RedisSweep != 5*time.Minute || o.KeepBinaries != 24*time.Hour {
		t.Fatalf("defaults: --redis-sweep %s, --keep-binaries %s", o.RedisSweep, o.KeepBinaries)
	}
	for _, v := range []string{"0", "0s", "10m", "1h30m", " 90s", "off", "Never"} {
		if _, err := parseOptions("serve", []string{"--auth", "none", "--redis-sweep", v}, false); err != nil && v != " 90s" {
			t.Errorf("--redis-sweep %q: %v", v, err)
		}
	}

	t.Setenv("ENGINE_WS_MAX_BINDS", "7")
	o, err = parseOptions("serve", []string{"--auth", "none", "--ws-max-sessions", "3", "--http-max-conns-per-ip", "5"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if o.WSMaxBinds != 7 || o.WSMaxSessions != 3 || o.HTTPMaxConnsPerIP != 5 {
		t.Fatalf("from the environment and the command line: %+v", o)
	}

	for _, args := range [][]string{
		{"--http-read-timeout", "0s"},
		{"--http-idle-timeout", "-1s"},
		{"--http-write-timeout", "30s"}, // shorter than the 60 s execute deadline
		{"--http-max-conns", "0"},
		{"--http-max-conns-per-ip", "-1"},
		{"--ws-max-binds", "0"},
		{"--ws-max-sessions-per-user", "0"},
		{"--ws-max-sessions", "-5"},
		{"--keep-binaries", "-1h"},
		{"--redis-sweep", "-5m"},
		{"--redis-sweep", "5"}, // no unit
		{"--redis-sweep", "sometimes"},
	} {
		_, err := parseOptions("serve", append([]string{"--auth", "none"}, args...), false)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: %v; want a refusal naming the flag", args, err)
		}
	}
}
