package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// greeter's device greets each connection with HELLO and wants LOGIN <password> before any
// command, answering OK or NO.
type greeter struct{ sdk.Base }

func (d *greeter) OnLoad(context.Context) error {
	sdk.NewTCP(&d.Base, sdk.TCPOptions{Handshake: d.login})
	return nil
}

func (d *greeter) login(ctx context.Context, h *sdk.Handshake) error {
	greeting, err := h.Next(ctx)
	if err != nil {
		return err
	}
	if string(greeting) != "HELLO" {
		return fmt.Errorf("unexpected greeting %q", greeting)
	}
	password, _ := sdk.SettingOr(&d.Base, "password", "")
	if err := h.Send(ctx, []byte("LOGIN "+password+"\r\n")); err != nil {
		return err
	}
	reply, err := h.Next(ctx)
	if err != nil {
		return err
	}
	if string(reply) != "OK" {
		return &sdk.Error{Status: 502, Kind: "Login", Err: errors.New("the device refused the password")}
	}
	return nil
}

// Ping is an unnamed command; Level a named one, which waits while the transport is offline.
func (d *greeter) Ping(ctx context.Context) (string, error) { return d.ask(ctx, "", "PING") }

func (d *greeter) Level(ctx context.Context) (string, error) { return d.ask(ctx, "level", "LEVEL?") }

func (d *greeter) ask(ctx context.Context, name, cmd string) (string, error) {
	v, err := d.Queue().Do(ctx, sdk.Command{Name: name, Data: []byte(cmd + "\r\n"),
		Response: func(frame []byte, t *sdk.Task) { t.Success(string(frame)) }})
	s, _ := v.(string)
	return s, err
}

func startGreeter(t *testing.T) (*sdktest.Harness, *sdktest.Device, *sdktest.Clock) {
	t.Helper()
	clk := sdktest.NewClock()
	h := sdktest.New(t, func() *greeter { return &greeter{} }, sdk.WithClock(clk))
	dev := h.TCPDevice()
	h.Start(sdktest.Module{Name: "G", Settings: map[string]string{"password": "pw"}})
	dev.ExpectConnect(1)
	return h, dev, clk
}

// answerLogin plays the device's side of a login with password, answering reply (OK or NO).
func answerLogin(dev *sdktest.Device, password, reply string) {
	dev.Respond("HELLO\r\n")
	dev.ShouldSend("LOGIN " + password + "\r\n")
	dev.Respond(reply + "\r\n")
}

// ping calls ping, which the device answers PONG.
func ping(h *sdktest.Harness, dev *sdktest.Device) sdktest.Result {
	call := h.ExecAsync("ping")
	dev.ShouldSend("PING\r\n")
	dev.Respond("PONG\r\n")
	return call.Result()
}

// TestHandshakeHoldsTheQueue: nothing is sent before the login is done; meanwhile the module is
// not connected, an unnamed command fails at once and a named one waits for it.
func TestHandshakeHoldsTheQueue(t *testing.T) {
	t.Parallel()
	h, dev, _ := startGreeter(t)
	level := h.ExecAsync("level")
	if r := h.Exec("ping"); r.Code != 503 || !strings.Contains(r.Message(), "offline") {
		t.Fatalf("ping during the handshake: %s", r)
	}
	dev.ShouldNotSend(20 * time.Millisecond)
	if v, _ := h.Status("connected"); string(v) != "false" {
		t.Fatalf("connected = %s during the handshake", v)
	}
	dev.Respond("HELLO\r\n")
	dev.ShouldSend("LOGIN pw\r\n")
	dev.ShouldNotSend(20 * time.Millisecond)
	dev.Respond("OK\r\n")
	h.WaitStatus("connected", true)
	dev.ShouldSend("LEVEL?\r\n")
	dev.Respond("7\r\n")
	if r := level.Result(); string(r.Value) != `"7"` {
		t.Fatalf("level: %s", r)
	}
	if r := ping(h, dev); string(r.Value) != `"PONG"` {
		t.Fatalf("ping: %s", r)
	}
}

// TestHandshakeRefused: a refused login closes the connection and is what a call gets; the
// transport tries again, pausing longer each time. The first refusal is logged at WARN, the same
// refusal again at DEBUG; a login that then succeeds at INFO.
func TestHandshakeRefused(t *testing.T) {
	t.Parallel()
	h, dev, clk := startGreeter(t)
	for i, pause := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond} {
		answerLogin(dev, "pw", "NO")
		var failed []sdktest.LogEntry
		h.Wait("the login to fail", func() bool {
			failed = append(logsAt(h, "warn", "handshake failed"), logsAt(h, "debug", "handshake failed")...)
			return len(failed) == i+1
		})
		if n := len(logsAt(h, "warn", "handshake failed")); n != 1 {
			t.Fatalf("%d refusals logged at WARN after %d alike, want 1", n, i+1)
		}
		if e := failed[i]; !strings.Contains(e.String(), "refused the password") {
			t.Fatalf("log: %s", e)
		}
		if r := h.Exec("ping"); r.Code != 502 || r.Class() != "Login" || r.Message() != "the device refused the password" {
			t.Fatalf("ping after a refused login: %s", r)
		}
		ctx, cancel := context.WithTimeout(context.Background(), sdktest.Timeout)
		err := clk.WaitTimers(ctx, 1) // the pause before the next connect
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(pause - time.Millisecond)
		if dev.Connections() != i+1 {
			t.Fatalf("reconnected before %s", pause)
		}
		clk.Advance(time.Millisecond)
		dev.ExpectConnect(i + 2)
	}
	answerLogin(dev, "pw", "OK")
	h.WaitStatus("connected", true)
	if e := h.WaitLog("handshake succeeded"); e.Level != "info" || !strings.Contains(e.String(), "after_failures=2") {
		t.Fatalf("log: %s", e)
	}
	if r := ping(h, dev); r.Err != nil {
		t.Fatalf("ping after a good login: %s", r)
	}
}

// TestHandshakeTimeout: a device that never greets fails the handshake after its timeout, on
// the module's clock.
func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	h, _, clk := startGreeter(t)
	ctx, cancel := context.WithTimeout(context.Background(), sdktest.Timeout)
	defer cancel()
	if err := clk.WaitTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(sdk.DefaultHandshakeTimeout)
	if e := h.WaitLog("handshake failed"); !strings.Contains(e.String(), "handshake timed out after 5s") {
		t.Fatalf("log: %s", e)
	}
	if r := h.Exec("ping"); r.Code != 504 || r.Class() != "HandshakeTimeout" {
		t.Fatalf("ping after the handshake timed out: %s", r)
	}
}

// TestHandshakeMakeBreak: with makebreak each connection a command opens logs in first; a
// refused login fails that command.
func TestHandshakeMakeBreak(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, func() *greeter { return &greeter{} })
	dev := h.TCPDevice()
	h.Start(sdktest.Module{Name: "G", MakeBreak: true, Settings: map[string]string{"password": "pw"}})
	call := h.ExecAsync("ping")
	dev.ExpectConnect(1)
	answerLogin(dev, "pw", "NO")
	if r := call.Result(); r.Code != 502 || r.Class() != "Login" {
		t.Fatalf("ping with a refused login: %s", r)
	}
	call = h.ExecAsync("ping")
	dev.ExpectConnect(2)
	answerLogin(dev, "pw", "OK")
	dev.ShouldSend("PING\r\n")
	dev.Respond("PONG\r\n")
	if r := call.Result(); string(r.Value) != `"PONG"` {
		t.Fatalf("ping: %s", r)
	}
}

// TestHandshakeRefusedAndHungUp: a device that refuses the login and hangs up at once still has
// its refusal read: the handshake fails with it, not with the connection's end.
func TestHandshakeRefusedAndHungUp(t *testing.T) {
	t.Parallel()
	for range 5 {
		h, dev, _ := startGreeter(t)
		answerLogin(dev, "pw", "NO")
		dev.Disconnect()
		h.WaitLog("handshake failed")
		if r := h.Exec("ping"); r.Code != 502 || r.Class() != "Login" {
			t.Fatalf("ping: %s", r)
		}
	}
}

// TestHandshakeRetriedWithNewSettings: after a refused login a settings update (a corrected
// password) is tried at once, not after the pause.
func TestHandshakeRetriedWithNewSettings(t *testing.T) {
	t.Parallel()
	h, dev, _ := startGreeter(t)
	answerLogin(dev, "pw", "NO")
	h.WaitLog("handshake failed")
	h.Settings(map[string]string{"password": "pw2"}) // the virtual clock stands still
	dev.ExpectConnect(2)
	answerLogin(dev, "pw2", "OK")
	h.WaitStatus("connected", true)
}
