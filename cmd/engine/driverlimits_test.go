package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/placeos-go/engine/core"
	"github.com/placeos-go/engine/model"
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

// TestDriverLimitsText: the start-up line names the limits in force in one canonical form, whatever
// form the flags were given in; the memory limit's single-letter and IEC units are binary.
func TestDriverLimitsText(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "driver limits: memory=512MiB status=200/s calls=200/s subscriptions=1000"},
		{[]string{"--driver-memory-limit", "1G", "--driver-status-rate", "200/min"}, "driver limits: memory=1GiB status=3.33/s calls=200/s subscriptions=1000"},
		{[]string{"--driver-memory-limit", "1gib", "--driver-status-rate", "1/h", "--driver-call-rate", "90/sec"}, "driver limits: memory=1GiB status=0.000278/s calls=90/s subscriptions=1000"},
		{[]string{"--driver-memory-limit", "1536m", "--driver-call-rate", "600/M", "--driver-max-subscriptions", "off"}, "driver limits: memory=1536MiB status=200/s calls=10/s subscriptions=off"},
		{[]string{"--driver-memory-limit", "off", "--driver-status-rate", "off", "--driver-call-rate", "100/m"}, "driver limits: memory=off status=off calls=1.67/s subscriptions=1000"},
	} {
		o, err := parseOptions("serve", append([]string{"--auth", "none"}, c.args...), false)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := o.driverLimitsText(); got != c.want {
			t.Errorf("%v: %q, want %q", c.args, got, c.want)
		}
	}
	for _, s := range []string{"1G", "1g", "1GiB", "1gib"} {
		if n, err := model.ParseMemoryLimit(s); err != nil || n != 1<<30 {
			t.Errorf("--driver-memory-limit %s: %d, %v; want 1GiB", s, n, err)
		}
	}
}

// TestDriverLimitFormsDocumented: every value the flag rows of README.md and docs/protocol.md show
// for the driver memory limit and rates is one the flag takes.
func TestDriverLimitFormsDocumented(t *testing.T) {
	value := regexp.MustCompile("`([0-9][0-9.]*[A-Za-z]*(/[a-z]+)?|off)`")
	for _, doc := range []string{"README.md", "docs/protocol.md"} {
		b, err := os.ReadFile(filepath.Join("..", "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"driver-memory-limit", "driver-status-rate"} {
			fs := (&options{}).flagSet("serve", false)
			row := regexp.MustCompile("(?m)^\\| `--" + name + "`.*$").FindString(string(b))
			forms := value.FindAllStringSubmatch(row, -1)
			if len(forms) < 5 {
				t.Fatalf("%s: the --%s row shows %d values: %q", doc, name, len(forms), row)
			}
			for _, m := range forms {
				if err := fs.Set(name, m[1]); err != nil {
					t.Errorf("%s shows --%s %s, which the flag refuses: %v", doc, name, m[1], err)
				}
			}
		}
	}
}
