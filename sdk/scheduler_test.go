package sdk_test

import (
	"context"
	"testing"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

type sdrv struct {
	sdk.Base
	ticks, crons int
}

func (d *sdrv) OnLoad(context.Context) error {
	s := d.Schedule()
	s.Every(time.Minute, func(context.Context) { d.ticks++; d.Set("ticks", d.ticks) })
	s.In(30*time.Second, func(context.Context) { d.Set("once", true) })
	if _, err := s.At("CRON_TZ=UTC 0 10 * * *", func(context.Context) { d.crons++; d.Set("crons", d.crons) }); err != nil {
		return err
	}
	_, err := s.At("not a cron spec", func(context.Context) {})
	d.Set("bad_spec_rejected", err != nil)
	return nil
}

// Jobs is how many jobs are still scheduled.
func (d *sdrv) Jobs() int { return d.Schedule().Len() }

func TestScheduler(t *testing.T) {
	t.Parallel()
	clk := sdktest.NewClock() // Monday 09:00 UTC
	h := sdktest.New(t, func() *sdrv { return &sdrv{} }, sdk.WithClock(clk))
	h.Start(sdktest.Module{Name: "S"})
	h.WaitStatus("bad_spec_rejected", true)

	clk.Advance(30 * time.Second)
	h.WaitStatus("once", true)
	clk.Advance(30 * time.Second)
	h.WaitStatus("ticks", 1)
	clk.Advance(59 * time.Minute) // 10:00: every minute ran 60 times, the cron job once
	h.WaitStatus("ticks", 60)
	h.WaitStatus("crons", 1)
	// A day on, an hour at a time: each hour's 60 ticks are waited for within the harness's
	// Timeout, where the day's 1440 at once outlasted it under the race detector on a loaded machine.
	for hour := 1; hour <= 24; hour++ {
		clk.Advance(time.Hour)
		h.WaitStatus("ticks", 60+60*hour)
	}
	h.WaitStatus("crons", 2)
	var jobs int
	if err := h.Exec("jobs").Decode(&jobs); err != nil || jobs != 2 { // "in" is done
		t.Fatalf("jobs %d %v", jobs, err)
	}

	h.Stop() // every job is cancelled with the module
	if n := clk.Pending(); n != 0 {
		t.Fatalf("%d timers left after stop", n)
	}
}
