package sdk_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// fdrv talks to a device that answers "LEVEL <n>" or "ERR <why>"; anything else trips its
// parser, the way a device's surprise reply trips a real driver. OnLoad polls every minute
// with nobody waiting, as a driver keeping its statuses fresh does.
type fdrv struct {
	sdk.Base
	conn *sdk.TCP
}

func (d *fdrv) OnLoad(context.Context) error {
	d.conn = sdk.NewTCP(&d.Base, sdk.TCPOptions{})
	d.Schedule().Every(time.Minute, func(ctx context.Context) {
		_, _ = d.Queue().Do(ctx, sdk.Command{Name: "poll", Data: []byte("LEVEL?\r\n"), Retries: sdk.NoRetries, Response: d.parse})
	})
	return nil
}

func (d *fdrv) parse(frame []byte, t *sdk.Task) {
	reply := strings.Fields(string(frame))
	if reply[0] == "ERR" {
		t.Abort(strings.Join(reply[1:], " "))
		return
	}
	n, err := strconv.Atoi(reply[1]) // a one-word reply panics here: index out of range
	if err != nil {
		t.Fail(err)
		return
	}
	t.Success(n)
}

// Level asks the device for its level; the caller gets the command's outcome.
func (d *fdrv) Level() *sdk.Task {
	return d.Queue().Add(sdk.Command{Name: "level", Data: []byte("LEVEL?\r\n"), Response: d.parse})
}

// Fetch runs a command whose Send panics.
func (d *fdrv) Fetch() *sdk.Task {
	return d.Queue().Add(sdk.Command{Name: "fetch", Send: func(context.Context, *sdk.Task) error {
		panic("no session")
	}})
}

func startFailures(t *testing.T) (*sdktest.Harness, *sdktest.Device, *sdktest.Clock) {
	t.Helper()
	clk := sdktest.NewClock()
	h := sdktest.New(t, func() *fdrv { return &fdrv{} }, sdk.WithClock(clk))
	dev := h.TCPDevice()
	h.Start(sdktest.Module{Name: "F"})
	h.WaitStatus("connected", true)
	return h, dev, clk
}

// logsAt returns the captured lines at level whose message is msg.
func logsAt(h *sdktest.Harness, level, msg string) []sdktest.LogEntry {
	var out []sdktest.LogEntry
	for _, e := range h.Logs() {
		if e.Level == level && e.Message == msg {
			out = append(out, e)
		}
	}
	return out
}

// A Response handler that panics fails its command at once: the exec that queued it gets a 500
// Panic with the stack, the panic is logged at ERROR with its file:line, the command is not sent
// again, and the module goes on working.
func TestCommandResponsePanicFailsItsCaller(t *testing.T) {
	t.Parallel()
	h, dev, clk := startFailures(t)
	p := h.ExecAsync("level")
	dev.ShouldSend("LEVEL?\r\n")
	dev.Respond("BOOM\r\n")
	r := p.Result()
	if r.Code != 500 || r.Class() != "Panic" || !strings.Contains(r.Message(), "index out of range") {
		t.Fatalf("exec after a panicking Response: %s", r)
	}
	if bt := strings.Join(r.Backtrace(), "\n"); !strings.Contains(bt, "queue_failures_test.go:") {
		t.Fatalf("backtrace does not reach the handler:\n%s", bt)
	}
	e := h.WaitLog("callback panicked")
	stack, _ := e.Fields["stack"].(string)
	if e.Level != "error" || !strings.Contains(stack, "queue_failures_test.go:") ||
		!strings.Contains(e.Fields["panic"].(string), "index out of range") || !strings.Contains(e.Fields["command"].(string), "level") {
		t.Fatalf("panic log line: %s", e)
	}
	if got := logsAt(h, "warn", "background command failed"); len(got) != 0 {
		t.Fatalf("a failure its caller received was also logged as a background one: %v", got)
	}
	clk.Advance(4 * sdk.DefaultTimeout) // every retry the command had would fall due
	dev.ShouldNotSend(20 * time.Millisecond)

	p = h.ExecAsync("level")
	dev.ShouldSend("LEVEL?\r\n")
	dev.Respond("LEVEL 7\r\n")
	if r := p.Result(); string(r.Value) != "7" {
		t.Fatalf("the next command after the panic: %s", r)
	}
}

// A Send that panics fails its command the same way.
func TestCommandSendPanicFailsItsCaller(t *testing.T) {
	t.Parallel()
	h, _, _ := startFailures(t)
	r := h.Exec("fetch")
	if r.Code != 500 || r.Class() != "Panic" || r.Message() != "Send panicked: no session" ||
		!strings.Contains(strings.Join(r.Backtrace(), "\n"), "queue_failures_test.go:") {
		t.Fatalf("exec after a panicking Send: %s %v", r, r.Backtrace())
	}
	if e := h.WaitLog("callback panicked"); e.Level != "error" || !strings.Contains(e.Fields["stack"].(string), "queue_failures_test.go:") {
		t.Fatalf("panic log line: %s", e)
	}
}

// A command no exec waits for (the scheduled poll) is not dropped in silence when it fails: a
// refusal, a timeout and a panic each leave a WARN line naming the command and the module.
func TestBackgroundCommandFailuresAreLogged(t *testing.T) {
	t.Parallel()
	h, dev, clk := startFailures(t)
	for i, tc := range []struct {
		answer, want string
	}{
		{"ERR busy\r\n", "busy"},
		{"", "retry limit reached (timeout)"},
		{"BOOM\r\n", "index out of range"},
	} {
		clk.Advance(time.Minute)
		dev.ShouldSend("LEVEL?\r\n")
		if tc.answer != "" {
			dev.Respond(tc.answer)
		} else {
			clk.Advance(sdk.DefaultTimeout)
		}
		h.Wait("warning "+strconv.Itoa(i+1), func() bool { return len(logsAt(h, "warn", "background command failed")) > i })
		e := logsAt(h, "warn", "background command failed")[i]
		if e.Fields["module"] != "mod-test" || e.Fields["command"] != `poll "LEVEL?\r\n"` ||
			!strings.Contains(e.Fields["error"].(string), tc.want) {
			t.Fatalf("warning %d: %s; want command poll, module mod-test and %q", i+1, e, tc.want)
		}
	}
}

// The exec caller hears of a failure; it is not logged again as a background one.
func TestCommandFailureWithCallerIsNotBackground(t *testing.T) {
	t.Parallel()
	h, dev, _ := startFailures(t)
	p := h.ExecAsync("level")
	dev.ShouldSend("LEVEL?\r\n")
	dev.Respond("ERR busy\r\n")
	if r := p.Result(); r.Code != 500 || r.Class() != "Abort" || r.Message() != "busy" {
		t.Fatalf("exec: %s", r)
	}
	if got := logsAt(h, "warn", "background command failed"); len(got) != 0 {
		t.Fatalf("a failure its caller received was also logged as a background one: %v", got)
	}
}
