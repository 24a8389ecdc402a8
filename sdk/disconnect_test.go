package sdk_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// hookDrv records its transport's connection hooks in the status "events".
type hookDrv struct {
	sdk.Base
	mu     sync.Mutex
	events []string
}

func (d *hookDrv) OnLoad(context.Context) error {
	sdk.NewTCP(&d.Base, sdk.TCPOptions{
		OnConnect:    func(context.Context, *sdk.TCP) { d.note("connect") },
		OnDisconnect: func() { d.note("disconnect") },
	})
	return nil
}

func (d *hookDrv) note(e string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, e)
	d.Set("events", strings.Join(d.events, ","))
}

// TestOnDisconnect: the hook runs once per connection that ends, before the next one opens.
func TestOnDisconnect(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, func() *hookDrv { return &hookDrv{} })
	dev := h.TCPDevice()
	h.Start(sdktest.Module{Name: "D"})
	h.WaitStatus("events", "connect")
	dev.Disconnect()
	dev.ExpectReconnect()
	h.WaitStatus("events", "connect,disconnect,connect")
}
