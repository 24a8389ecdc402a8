package sdk_test

import (
	"context"
	"net"
	"testing"

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
