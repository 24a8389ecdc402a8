package sdk_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// loginDrv's Login command has a Send that gives up on the connection: it waits (past the
// command's timeout) for the test to let it go, then drops the connection and fails.
type loginDrv struct {
	sdk.Base
	conn    *sdk.TCP
	entered chan struct{}
	release chan struct{}
}

func (d *loginDrv) OnLoad(context.Context) error {
	d.conn = sdk.NewTCP(&d.Base, sdk.TCPOptions{})
	return nil
}

func (d *loginDrv) Login(ctx context.Context) error {
	_, err := d.Queue().Do(ctx, sdk.Command{Send: func(ctx context.Context, _ *sdk.Task) error {
		close(d.entered)
		<-d.release
		d.conn.Disconnect()
		deadline := time.Now().Add(sdktest.Timeout)
		for d.Queue().Online() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // polling for the transport to notice, not waiting for time
		}
		return &sdk.Error{Status: 502, Kind: "Login", Err: errors.New("the device refused the login")}
	}})
	return err
}

// TestSendErrorIsNotHiddenByOffline: a command's timeout does not end an attempt while its Send
// runs, so the error Send returns after dropping the connection reaches the caller, rather than
// the queue's "offline" abort of a command requeued behind Send's back.
func TestSendErrorIsNotHiddenByOffline(t *testing.T) {
	t.Parallel()
	clk := sdktest.NewClock()
	d := &loginDrv{entered: make(chan struct{}), release: make(chan struct{})}
	h := sdktest.New(t, func() *loginDrv { return d }, sdk.WithClock(clk))
	dev := h.TCPDevice()
	h.Start(sdktest.Module{Name: "L"})
	h.WaitStatus("connected", true)
	dev.ExpectConnect(1)
	call := h.ExecAsync("login")
	select {
	case <-d.entered:
	case <-time.After(sdktest.Timeout):
		t.Fatalf("login's Send did not run: %s", call.Result())
	}
	clk.Advance(sdk.DefaultTimeout) // the attempt's timeout passes while Send runs
	close(d.release)
	if r := call.Result(); r.Code != 502 || r.Class() != "Login" {
		t.Fatalf("login: %s, want 502 Login", r)
	}
}
