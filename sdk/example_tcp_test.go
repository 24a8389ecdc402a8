package sdk_test

import (
	"context"
	"fmt"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/internal/exampletest"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// Projector is a minimal TCP device driver. Its one function, Power, is a command on the
// module's queue whose answer the command's own Response reads.
type Projector struct {
	sdk.Base
}

// NewProjector makes the driver value of one module: main is
// func main() { sdk.Serve(NewProjector) }.
func NewProjector() *Projector { return &Projector{} }

// OnLoad connects to the module's ip and port; the device ends its lines with "\r". The
// connection keeps the "connected" status and stops with the module.
func (p *Projector) OnLoad(context.Context) error {
	sdk.NewTCP(&p.Base, sdk.TCPOptions{Tokenizer: sdk.Delimiter("\r")})
	return nil
}

// Power is power(state) on the wire; the sdk.PowerArgs argument makes the driver report the
// Powerable interface.
func (p *Projector) Power(ctx context.Context, a sdk.PowerArgs) (bool, error) {
	data := "PWR OFF\r"
	if a.State {
		data = "PWR ON\r"
	}
	on, err := p.Queue().Do(ctx, sdk.Command{
		Name:     "power", // a newer power command replaces a queued one
		Data:     []byte(data),
		Priority: 80,
		// Response gets the frames that arrive while the command runs, and completes it.
		Response: func(frame []byte, t *sdk.Task) {
			switch string(frame) {
			case "PWR=ON", "PWR=OFF":
				p.Set("power", string(frame) == "PWR=ON")
				t.Success(string(frame) == "PWR=ON")
			case "ERR":
				t.Abort("the projector refused " + data[:len(data)-1])
			}
		},
	})
	if err != nil {
		return false, err // the caller gets the command's failure: class Abort, code 500
	}
	return on.(bool), nil
}

// A TCP device driver with a command and its response, and the test that plays the device
// (sdktest): the bytes the driver sends are checked exactly, the device's answers are scripted.
func ExampleNewTCP() {
	t := exampletest.New() // in a test: func TestPower(t *testing.T)
	defer t.Done()

	h := sdktest.New(t, NewProjector)
	dev := h.TCPDevice() // the module under test connects to it
	h.Start(sdktest.Module{Name: "Projector"})
	h.WaitStatus("connected", true)

	call := h.ExecAsync("power", true) // the driver waits for the device
	dev.ShouldSend("PWR ON\r")
	dev.Respond("PWR=ON\r")
	fmt.Println(call.Result())
	h.WaitStatus("power", true)

	call = h.ExecAsync("power", false)
	dev.ShouldSend("PWR OFF\r")
	dev.Respond("ERR\r")
	r := call.Result()
	fmt.Println(r.Code, r.Class(), r.Message())
	// Output:
	// 200 true
	// 500 Abort the projector refused PWR OFF
}
