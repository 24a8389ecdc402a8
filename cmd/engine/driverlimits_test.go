package main

import (
	"strings"
	"testing"

	"github.com/placeos-go/engine/core"
)

// The driver limit flags take the forms people type (a rate per second, minute or hour, a bare
// number, off), have the documented defaults, and refuse anything else naming the flag.
func TestDriverLimitFlagForms(t *testing.T) {
	o, err := parseOptions("serve", []string{"--auth", "none"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.driverLimits(); got != (core.Limits{StatusRate: 200, CallRate: 200, MaxSubscriptions: 1000}) {
		t.Fatalf("defaults: %+v", got)
	}
	for _, c := range []struct {
		args []string
		want core.Limits
	}{
		{[]string{"--driver-status-rate", "50/s", "--driver-call-rate", "600/m", "--driver-max-subscriptions", "20"}, core.Limits{StatusRate: 50, CallRate: 10, MaxSubscriptions: 20}},
		{[]string{"--driver-status-rate", "7200/h", "--driver-call-rate", "12.5", "--driver-max-subscriptions", "5_000"}, core.Limits{StatusRate: 2, CallRate: 12.5, MaxSubscriptions: 5000}},
		{[]string{"--driver-status-rate", "OFF", "--driver-call-rate", " 30 / min ", "--driver-max-subscriptions", "off"}, core.Limits{StatusRate: -1, CallRate: 0.5, MaxSubscriptions: -1}},
	} {
		o, err := parseOptions("serve", append([]string{"--auth", "none"}, c.args...), false)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := o.driverLimits(); got != c.want {
			t.Errorf("%v: %+v, want %+v", c.args, got, c.want)
		}
	}
	t.Setenv("ENGINE_DRIVER_CALL_RATE", "5/s")
	if o, err := parseOptions("serve", []string{"--auth", "none"}, false); err != nil || o.driverLimits().CallRate != 5 {
		t.Fatalf("from the environment: %v %+v", err, o)
	}
	for _, args := range [][]string{
		{"--driver-status-rate", "0"},
		{"--driver-status-rate", "-5/s"},
		{"--driver-call-rate", "fast"},
		{"--driver-call-rate", "200/day"},
		{"--driver-max-subscriptions", "0"},
		{"--driver-max-subscriptions", "1k"},
	} {
		_, err := parseOptions("serve", append([]string{"--auth", "none"}, args...), false)
		if err == nil || !strings.Contains(err.Error(), strings.TrimLeft(args[0], "-")) || !strings.Contains(err.Error(), "want ") {
			t.Errorf("%v: %v, want a refusal naming the flag and the forms it takes", args, err)
		}
	}
}
