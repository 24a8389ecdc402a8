package sdk_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// poller reads two values every minute, publishes their sum, and checks again 5 s later.
type poller struct{ sdk.Base }

func (d *poller) OnLoad(context.Context) error {
	sdk.NewTCP(&d.Base, sdk.TCPOptions{})
	d.Schedule().Every(time.Minute, d.poll)
	return nil
}

func (d *poller) poll(ctx context.Context) {
	a, b := d.read(ctx, "A?"), d.read(ctx, "B?")
	d.Set("sum", a+b)
	d.Schedule().In(5*time.Second, func(context.Context) { d.Set("checked", true) })
}

func (d *poller) read(ctx context.Context, q string) int {
	v, _ := d.Queue().Do(ctx, sdk.Command{Data: []byte(q + "\r\n"), Response: func(f []byte, t *sdk.Task) {
		n, _ := strconv.Atoi(string(f))
		t.Success(n)
	}})
	n, _ := v.(int)
	return n
}

// TestWaitIdle: once the poll's last answer is in, WaitIdle returns when the poll is over (its
// status delivered, its follow-up armed), so the clock can move on.
func TestWaitIdle(t *testing.T) {
	t.Parallel()
	clk := sdktest.NewClock()
	h := sdktest.New(t, func() *poller { return &poller{} }, sdk.WithClock(clk))
	dev := h.TCPDevice()
	h.Start(sdktest.Module{Name: "P"})
	h.WaitStatus("connected", true)
	h.WaitIdle()
	clk.Advance(time.Minute)
	dev.ShouldSend("A?\r\n")
	dev.Respond("1\r\n")
	dev.ShouldSend("B?\r\n")
	dev.Respond("2\r\n")
	h.WaitIdle()
	if v, _ := h.Status("sum"); string(v) != "3" {
		t.Fatalf("sum = %s once idle", v)
	}
	clk.Advance(5 * time.Second)
	h.WaitStatus("checked", true)
}
