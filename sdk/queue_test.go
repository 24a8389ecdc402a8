package sdk_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// qdrv sends whatever a test asks through the queue; the mock device's answers decide the
// outcome: "OK…" succeeds with the line, "ERR <why>" aborts, "RETRY" retries.
type qdrv struct {
	sdk.Base
	conn *sdk.TCP
}

func (d *qdrv) OnLoad(context.Context) error {
	d.conn = sdk.NewTCP(&d.Base, sdk.TCPOptions{Received: d.received})
	return nil
}

func (d *qdrv) received(frame []byte, t *sdk.Task) {
	line := string(frame)
	if t == nil {
		d.Set("unsolicited", line)
		return
	}
	switch {
	case strings.HasPrefix(line, "OK"):
		t.Success(line)
	case strings.HasPrefix(line, "ERR "):
		t.AbortCode(line[4:], 409)
	case line == "RETRY":
		t.Retry("device busy")
	}
}

type sendArgs struct {
	Data     string `json:"data"`
	Name     string `json:"name" default:""`
	Priority int    `json:"priority" default:"0"`
	Retries  int    `json:"retries" default:"0"`
	NoWait   bool   `json:"no_wait" default:"false"`
	DelayMS  int    `json:"delay_ms" default:"0"`
	Clear    bool   `json:"clear" default:"false"`
}

// Send returns the queued task: the exec answers with the command's outcome.
func (d *qdrv) Send(a sendArgs) *sdk.Task {
	return d.Queue().Add(sdk.Command{Data: []byte(a.Data + "\r\n"), Name: a.Name, Priority: a.Priority,
		Retries: a.Retries, NoWait: a.NoWait, Delay: time.Duration(a.DelayMS) * time.Millisecond, ClearQueue: a.Clear})
}

// Pending is the number of queued commands.
func (d *qdrv) Pending() int { return d.Queue().Len() }

func startQueue(t *testing.T) (*sdktest.Harness, *sdktest.Device, *sdktest.Clock) {
	t.Helper()
	clk := sdktest.NewClock()
	h := sdktest.New(t, func() *qdrv { return &qdrv{} }, sdk.WithClock(clk))
	dev := h.TCPDevice()
	h.Start(sdktest.Module{Name: "Q"})
	h.WaitStatus("connected", true)
	dev.ExpectConnect(1)
	return h, dev, clk
}

// send starts an exec of send and waits until the command is queued or running.
func send(t *testing.T, h *sdktest.Harness, queued int, args map[string]any) *sdktest.Pending {
	t.Helper()
	p := h.ExecAsyncNamed("send", args)
	h.Wait("command queued", func() bool {
		var n int
		_ = h.Exec("pending").Decode(&n)
		return n >= queued
	})
	return p
}

func TestQueuePriorityOrder(t *testing.T) {
	t.Parallel()
	h, dev, _ := startQueue(t)
	first := h.ExecAsyncNamed("send", map[string]any{"data": "A"})
	dev.ShouldSend("A\r\n") // A is running; the rest queue behind it
	low := send(t, h, 1, map[string]any{"data": "LOW", "priority": 10})
	high := send(t, h, 2, map[string]any{"data": "HIGH", "priority": 90})
	mid := send(t, h, 3, map[string]any{"data": "MID"})
	for _, step := range []struct{ sent, answer string }{{"", "OK a"}, {"HIGH\r\n", "OK high"}, {"MID\r\n", "OK mid"}, {"LOW\r\n", "OK low"}} {
		if step.sent != "" {
			dev.ShouldSend(step.sent)
		}
		dev.Respond(step.answer + "\r\n")
	}
	for p, want := range map[*sdktest.Pending]string{first: `"OK a"`, high: `"OK high"`, mid: `"OK mid"`, low: `"OK low"`} {
		if r := p.Result(); string(r.Value) != want {
			t.Errorf("result %s, want %s", r, want)
		}
	}
}

func TestQueueNamedCommandReplacesQueuedOne(t *testing.T) {
	t.Parallel()
	h, dev, _ := startQueue(t)
	first := h.ExecAsyncNamed("send", map[string]any{"data": "A"})
	dev.ShouldSend("A\r\n")
	v1 := send(t, h, 1, map[string]any{"data": "VOL 10", "name": "volume"})
	v2 := h.ExecAsyncNamed("send", map[string]any{"data": "VOL 20", "name": "volume"})
	if r := v1.Result(); r.Class() != "Abort" || !strings.Contains(r.Message(), "replaced") {
		t.Fatalf("replaced command: %s", r)
	}
	dev.Respond("OK\r\n")
	dev.ShouldSend("VOL 20\r\n") // VOL 10 never reaches the device
	dev.Respond("OK 20\r\n")
	if r := v2.Result(); string(r.Value) != `"OK 20"` {
		t.Fatalf("v2: %s", r)
	}
	first.Result()
}

func TestQueueTimeoutRetriesThenAborts(t *testing.T) {
	t.Parallel()
	h, dev, clk := startQueue(t)
	p := h.ExecAsyncNamed("send", map[string]any{"data": "PING", "retries": 2})
	for range 3 { // the first attempt and two retries
		dev.ShouldSend("PING\r\n")
		clk.Advance(sdk.DefaultTimeout)
	}
	r := p.Result()
	if r.Code != 504 || r.Class() != "Abort" || !strings.Contains(r.Message(), "retry limit reached") {
		t.Fatalf("after retries: %s", r)
	}
	dev.ShouldNotSend(20 * time.Millisecond)
}

func TestQueueRetryBonusRunsRetriedCommandFirst(t *testing.T) {
	t.Parallel()
	h, dev, _ := startQueue(t)
	x := h.ExecAsyncNamed("send", map[string]any{"data": "X"})
	dev.ShouldSend("X\r\n")
	y := send(t, h, 1, map[string]any{"data": "Y", "priority": 60})
	dev.Respond("RETRY\r\n") // X goes back with 50+20 = 70 > 60
	dev.ShouldSend("X\r\n")
	dev.Respond("OK x\r\n")
	dev.ShouldSend("Y\r\n")
	dev.Respond("OK y\r\n")
	if r := x.Result(); string(r.Value) != `"OK x"` {
		t.Fatalf("x: %s", r)
	}
	y.Result()
}

func TestQueueOutcomes(t *testing.T) {
	t.Parallel()
	h, dev, clk := startQueue(t)

	// Fire and forget completes once sent.
	if r := h.ExecNamed("send", map[string]any{"data": "BEEP", "no_wait": true}); r.Err != nil || string(r.Value) != "null" {
		t.Fatalf("no_wait: %s", r)
	}
	dev.ShouldSend("BEEP\r\n")

	// An abort from the driver reaches the caller with its code.
	p := h.ExecAsyncNamed("send", map[string]any{"data": "BAD"})
	dev.ShouldSend("BAD\r\n")
	dev.Respond("ERR busy\r\n")
	if r := p.Result(); r.Code != 409 || r.Class() != "Abort" || r.Message() != "busy" {
		t.Fatalf("abort: %s", r)
	}

	// Delay holds the next command until the clock passes it.
	a := h.ExecAsyncNamed("send", map[string]any{"data": "A", "delay_ms": 1000})
	dev.ShouldSend("A\r\n")
	b := send(t, h, 1, map[string]any{"data": "B"})
	dev.Respond("OK\r\n")
	a.Result()
	dev.ShouldNotSend(30 * time.Millisecond)
	clk.Advance(time.Second)
	dev.ShouldSend("B\r\n")
	dev.Respond("OK\r\n")
	b.Result()

	// ClearQueue aborts what waits behind the command.
	c := h.ExecAsyncNamed("send", map[string]any{"data": "C", "clear": true})
	dev.ShouldSend("C\r\n")
	d := send(t, h, 1, map[string]any{"data": "D"})
	dev.Respond("OK\r\n")
	if r := d.Result(); !strings.Contains(r.Message(), "queue cleared") {
		t.Fatalf("cleared: %s", r)
	}
	c.Result()

	// Frames with no command running go to Received without a task.
	dev.Respond("HELLO\r\n")
	h.WaitStatus("unsolicited", "HELLO")
}

func TestQueueOffline(t *testing.T) {
	t.Parallel()
	h, dev, clk := startQueue(t)
	dev.Disconnect()
	h.WaitStatus("connected", false)
	if r := h.ExecNamed("send", map[string]any{"data": "U"}); r.Code != 503 || !strings.Contains(r.Message(), "offline") {
		t.Fatalf("unnamed while offline: %s", r)
	}
	named := send(t, h, 1, map[string]any{"data": "N", "name": "n"})
	ctx, cancel := context.WithTimeout(context.Background(), sdktest.Timeout)
	defer cancel()
	if err := clk.WaitTimers(ctx, 1); err != nil { // the reconnect backoff
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	dev.ExpectConnect(2)
	dev.ShouldSend("N\r\n")
	dev.Respond("OK n\r\n")
	if r := named.Result(); string(r.Value) != `"OK n"` {
		t.Fatalf("named after reconnect: %s", r)
	}
}
