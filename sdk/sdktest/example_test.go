package sdktest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/internal/exampletest"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// Projector is the driver under test: power(state) is a command on the module's queue, answered
// by the device's next frame.
type Projector struct {
	sdk.Base
}

// NewProjector makes the driver value of one module.
func NewProjector() *Projector { return &Projector{} }

// OnLoad connects to the module's ip and port (in the harness: the mock device).
func (p *Projector) OnLoad(context.Context) error {
	sdk.NewTCP(&p.Base, sdk.TCPOptions{Tokenizer: sdk.Delimiter("\r"), Received: p.received})
	return nil
}

// Power returns its command's task: the caller gets the command's outcome. A command that has no
// answer within its Timeout is sent again, up to Retries times.
func (p *Projector) Power(_ context.Context, a sdk.PowerArgs) *sdk.Task {
	data := "PWR OFF\r"
	if a.State {
		data = "PWR ON\r"
	}
	return p.Queue().Add(sdk.Command{Name: "power", Data: []byte(data), Timeout: 5 * time.Second, Retries: 2})
}

// received gets the device's frames with the running command.
func (p *Projector) received(frame []byte, t *sdk.Task) {
	if s := string(frame); s == "PWR=ON" || s == "PWR=OFF" {
		p.Set("power", s == "PWR=ON")
		if t != nil {
			t.Success(s == "PWR=ON")
		}
	}
}

// A driver tested with no device and no engine: the harness runs it against a fake host, a mock
// TCP device checks the bytes it sends, and a virtual clock runs its timeouts and retries
// without sleeping.
func ExampleNew() {
	t := exampletest.New() // in a test: func TestPower(t *testing.T)
	defer t.Done()

	clk := sdktest.NewClock()
	h := sdktest.New(t, NewProjector, sdk.WithClock(clk))
	dev := h.TCPDevice() // Start points the module at it
	h.Start(sdktest.Module{Name: "Projector"})
	h.WaitStatus("connected", true)

	call := h.ExecAsync("power", true) // the driver waits for the device
	dev.ShouldSend("PWR ON\r")         // byte-exact; a difference fails with text and hex
	clk.Advance(5 * time.Second)       // no answer: the command times out and is sent again
	dev.ShouldSend("PWR ON\r")
	dev.Respond("PWR=ON\r")
	fmt.Println(call.Result())
	h.WaitStatus("power", true)

	call = h.ExecAsync("power", false)
	for range 3 { // the first attempt and its two retries, none answered
		dev.ShouldSend("PWR OFF\r")
		clk.Advance(5 * time.Second)
	}
	r := call.Result()
	fmt.Println(r.Code, r.Class(), r.Message())
	// Output:
	// 200 true
	// 504 Abort retry limit reached (timeout)
}
