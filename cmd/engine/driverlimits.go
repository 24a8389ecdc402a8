package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/placeos-go/engine/core"
)

// rateFlag is a per-second rate as people write it: 200, 200/s (/sec, /second), 12000/m (/min,
// /minute), 3600/h (/hour), or off. It holds the rate per second; off is -1 (core.Limits switches the limit off).
type rateFlag struct{ perSec float64 }

// String is the canonical form: per second, two decimals at most (200/min is 3.33/s), three
// significant digits below one a second (1/h is 0.000278/s).
func (f *rateFlag) String() string {
	switch {
	case f.perSec < 0:
		return "off"
	case f.perSec < 1:
		return strconv.FormatFloat(f.perSec, 'g', 3, 64) + "/s"
	}
	return strconv.FormatFloat(math.Round(f.perSec*100)/100, 'f', -1, 64) + "/s"
}

func (f *rateFlag) Set(s string) error {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if s == "off" {
		f.perSec = -1
		return nil
	}
	num, unit, _ := strings.Cut(s, "/")
	per := map[string]float64{"": 1, "s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}[unit]
	n, err := strconv.ParseFloat(num, 64)
	if per == 0 || err != nil || n <= 0 {
		return fmt.Errorf("want a rate such as 200/s, 12000/m or 200 (per second), or off, not %q", s)
	}
	f.perSec = n / per
	return nil
}

// countFlag is a positive count, or off (-1).
type countFlag struct{ n int }

func (f *countFlag) String() string {
	if f.n < 0 {
		return "off"
	}
	return strconv.Itoa(f.n)
}

func (f *countFlag) Set(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "off" {
		f.n = -1
		return nil
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive number such as 1000, or off, not %q", s)
	}
	f.n = n
	return nil
}

// driverLimitFlags declares the per-driver limits (core.Limits; docs/protocol.md "Driver
// limits") with their defaults.
func (o *options) driverLimitFlags(fs *flag.FlagSet) {
	o.DriverStatusRate = rateFlag{core.DefaultStatusRate}
	o.DriverCallRate = rateFlag{core.DefaultCallRate}
	o.DriverMaxSubscriptions = countFlag{core.DefaultMaxSubscriptions}
	fs.Var(&o.DriverStatusRate, "driver-status-rate", fmt.Sprintf("status writes one module may make (per /s, /sec, /m, /min or /h: 200/s, 12000/m; a bare number is per second; or off), bursts of %d s' worth; over it the latest value of each status is written when the rate allows", core.BurstSeconds))
	fs.Var(&o.DriverCallRate, "driver-call-rate", fmt.Sprintf("calls one driver's modules may make to other modules (per /s, /sec, /m, /min or /h: 200/s, 12000/m; a bare number is per second; or off), bursts of %d s' worth; over it a call is refused with 429 TooMany", core.BurstSeconds))
	fs.Var(&o.DriverMaxSubscriptions, "driver-max-subscriptions", "status subscriptions and channel monitors one driver's modules may hold open at once (a number, or off); more are refused")
}

// driverLimitsText is the driver limits in force in their canonical forms, for the start-up log:
// what "1G" or "200/min" turned into.
func (o *options) driverLimitsText() string {
	return fmt.Sprintf("driver limits: memory=%s status=%s calls=%s subscriptions=%s",
		&o.DriverMemoryLimit, &o.DriverStatusRate, &o.DriverCallRate, &o.DriverMaxSubscriptions)
}

// driverLimits is core's form of the flags.
func (o *options) driverLimits() core.Limits {
	return core.Limits{StatusRate: o.DriverStatusRate.perSec, CallRate: o.DriverCallRate.perSec,
		MaxSubscriptions: o.DriverMaxSubscriptions.n}
}
