package sdk_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/internal/exampletest"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// Lamp polls a projector's lamp hours every ten minutes into the status lamp_hours.
type Lamp struct {
	sdk.Base
}

// NewLamp makes the driver value of one module.
func NewLamp() *Lamp { return &Lamp{} }

// OnLoad connects and schedules the poll; jobs stop with the module.
func (l *Lamp) OnLoad(context.Context) error {
	sdk.NewTCP(&l.Base, sdk.TCPOptions{Tokenizer: sdk.Delimiter("\r"), Received: l.received})
	l.Schedule().Every(10*time.Minute, func(ctx context.Context) {
		// A poll is low priority and named: a poll still queued is replaced, not doubled. Its
		// failure is logged at WARN (background command failed); no caller waits for it.
		l.Queue().Add(sdk.Command{Name: "lamp", Data: []byte("LAMP?\r"), Priority: 10})
	})
	return nil
}

// received reads frames no command's Response took: here every answer. t is the running
// command.
func (l *Lamp) received(frame []byte, t *sdk.Task) {
	if hours, ok := strings.CutPrefix(string(frame), "LAMP="); ok {
		if n, err := strconv.Atoi(hours); err == nil {
			l.Set("lamp_hours", n)
		}
		if t != nil {
			t.Success(nil)
		}
	}
}

// A poll on the scheduler, tested in virtual time: sdk.WithClock hands the driver the test's
// clock, and nothing happens until the test advances it.
func ExampleScheduler_Every() {
	t := exampletest.New() // in a test: func TestLampPoll(t *testing.T)
	defer t.Done()

	clk := sdktest.NewClock()
	h := sdktest.New(t, NewLamp, sdk.WithClock(clk))
	dev := h.TCPDevice()
	h.Start(sdktest.Module{Name: "Projector"})
	h.WaitStatus("connected", true)

	clk.Advance(10 * time.Minute)
	dev.ShouldSend("LAMP?\r")
	dev.Respond("LAMP=1200\r")
	h.WaitStatus("lamp_hours", 1200)

	clk.Advance(10 * time.Minute)
	dev.ShouldSend("LAMP?\r")
	dev.Respond("LAMP=1201\r")
	h.WaitStatus("lamp_hours", 1201)

	hours, _ := h.Status("lamp_hours")
	fmt.Println("lamp_hours:", string(hours))
	// Output:
	// lamp_hours: 1201
}
