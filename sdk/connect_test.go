package sdk_test

import (
	"context"
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
