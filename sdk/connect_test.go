package sdk_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// watcher's connect hook lives as long as its connection, as a hook that watches the device
// until the connection ends does.
type watcher struct{ sdk.Base }

func (d *watcher) OnLoad(context.Context) error {
	sdk.NewTCP(&d.Base, sdk.TCPOptions{OnConnect: func(ctx context.Context, _ *sdk.TCP) { <-ctx.Done() }})
	return nil
}

// TestConnectHookEndsWithItsConnection: the hook's context ends when its connection does, so a
// hook that waits for it does not hold up the reconnect.
func TestConnectHookEndsWithItsConnection(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, func() *watcher { return &watcher{} })
	dev := h.TCPDevice()
	h.Start(sdktest.Module{Name: "D"})
	dev.ExpectConnect(1)
	dev.Disconnect()
	dev.ExpectReconnect()
	h.WaitStatus("connected", true)
}

// portDrv connects to its device's usual port when the module names none.
type portDrv struct {
	sdk.Base
	port int
}

func (d *portDrv) OnLoad(context.Context) error {
	sdk.NewTCP(&d.Base, sdk.TCPOptions{DefaultPort: d.port})
	return nil
}

func TestDefaultPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		select {
		case c := <-accepted:
			_ = c.Close()
		default:
		}
	})
	port := ln.Addr().(*net.TCPAddr).Port
	h := sdktest.New(t, func() *portDrv { return &portDrv{port: port} })
	h.Start(sdktest.Module{Name: "D", IP: "127.0.0.1"})
	h.WaitStatus("connected", true)
}

// TestConnectFailuresLogged: a device that refuses connections is a WARN the first time (an
// operator wants to know), a DEBUG while the same refusal repeats, and an INFO when it answers
// again.
func TestConnectFailuresLogged(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close() // nothing listens there now: connects are refused
	clk := sdktest.NewClock()
	h := sdktest.New(t, func() *portDrv { return &portDrv{} }, sdk.WithClock(clk))
	h.Start(sdktest.Module{Name: "D", IP: "127.0.0.1", Port: port})
	failures := func(level string) int { return len(logsAt(h, level, "connect failed")) }
	for i, pause := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second} {
		h.Wait("a refused connect", func() bool { return failures("warn")+failures("debug") == i+1 })
		ctx, cancel := context.WithTimeout(context.Background(), sdktest.Timeout)
		err := clk.WaitTimers(ctx, 1)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			// The device is back before the next attempt.
			if ln, err = net.Listen("tcp", ln.Addr().String()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			go func() {
				if c, err := ln.Accept(); err == nil {
					t.Cleanup(func() { _ = c.Close() })
				}
			}()
		}
		clk.Advance(pause)
	}
	h.WaitStatus("connected", true)
	if w, d := failures("warn"), failures("debug"); w != 1 || d != 2 {
		t.Fatalf("%d refusals at WARN and %d at DEBUG, want 1 and 2", w, d)
	}
	// The pause reads as a duration in the engine's log, not as nanoseconds: the line travels as
	// JSON, where a time.Duration is a bare number the host prints as 2.5e+08.
	if w := logsAt(h, "warn", "connect failed"); w[0].Fields["retry_in"] != "250ms" {
		t.Fatalf("retry_in = %#v, want \"250ms\": %s", w[0].Fields["retry_in"], w[0])
	}
	if e := h.WaitLog("connected"); e.Level != "info" || !strings.Contains(e.String(), "after_failures=3") {
		t.Fatalf("log: %s", e)
	}
}
