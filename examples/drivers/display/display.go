package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// Settings of a display module.
type Settings struct {
	// Inputs limits switch_to to these names when set.
	Inputs []string `json:"inputs,omitempty" description:"allowed input names, e.g. [\"hdmi1\",\"hdmi2\"]"`
}

// Display drives the example TCP display (examples/sims/display). It keeps the statuses power,
// input, volume and connected.
type Display struct {
	sdk.Base
	conn *sdk.TCP
}

// New makes the driver value of one module.
func New() *Display { return &Display{} }

// options are the driver's Serve options; the golden metadata test uses the same.
var options = []sdk.Option{sdk.Version("1.0.0"), sdk.SettingsType[Settings]()}

// commandTimeout bounds one command when the caller gave no deadline.
const commandTimeout = 5 * time.Second

// OnLoad connects to the device at the module's ip and port. Lines end in CRLF.
func (d *Display) OnLoad(context.Context) error {
	d.conn = sdk.NewTCP(&d.Base, sdk.TCPOptions{Tokenizer: sdk.Delimiter("\r\n"), Received: d.received, OnConnect: d.query})
	return nil
}

// Power turns the display on or off and returns the new state.
func (d *Display) Power(ctx context.Context, a sdk.PowerArgs) (bool, error) {
	cmd := "POWER OFF"
	if a.State {
		cmd = "POWER ON"
	}
	// Power is urgent: it jumps ahead of queued input and volume changes.
	if err := d.command(ctx, sdk.Command{Data: line(cmd), Priority: 80}); err != nil {
		return false, err
	}
	var on bool
	d.Status("power", &on)
	return on, nil
}

// SwitchTo selects an input and returns it.
func (d *Display) SwitchTo(ctx context.Context, a sdk.SwitchToArgs) (string, error) {
	var s Settings
	if err := d.Settings(&s); err != nil {
		return "", err
	}
	input := strings.ToLower(a.Input)
	if len(s.Inputs) > 0 && !slices.Contains(s.Inputs, input) {
		return "", sdk.Errorf(400, "input %q is not one of %v", a.Input, s.Inputs)
	}
	if err := d.command(ctx, sdk.Command{Data: line("INPUT " + input)}); err != nil {
		return "", err
	}
	var got string
	d.Status("input", &got)
	return got, nil
}

// Volume sets the output level and returns it. Volume commands are named: a slider dragged
// quickly replaces the queued level instead of sending every step.
func (d *Display) Volume(ctx context.Context, a sdk.VolumeArgs) (int, error) {
	if err := d.command(ctx, sdk.Command{Name: "volume", Data: line("VOLUME " + strconv.Itoa(a.Level))}); err != nil {
		return 0, err
	}
	var v int
	d.Status("volume", &v)
	return v, nil
}

// Reboot restarts the display; it drops the connection and the transport reconnects.
func (d *Display) Reboot(ctx context.Context, _ struct{ sdk.Support }) error {
	d.Logger().Info("rebooting display", "user", sdk.UserID(ctx))
	return d.command(ctx, sdk.Command{Data: line("REBOOT"), ClearQueue: true})
}

func line(s string) []byte { return []byte(s + "\r\n") }

// command queues one command and waits for the device's answer, which response applies.
func (d *Display) command(ctx context.Context, c sdk.Command) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, commandTimeout)
		defer cancel()
	}
	c.Response = d.response
	_, err := d.Queue().Do(ctx, c)
	return err
}

// response takes the device's answer to the running command: every command is answered with
// one line, an echo of the new state or ERR.
func (d *Display) response(frame []byte, t *sdk.Task) {
	if msg, ok := strings.CutPrefix(string(frame), "ERR "); ok {
		t.Fail(&sdk.Error{Status: 502, Kind: "DeviceError", Err: fmt.Errorf("display refused %q: %s", strings.TrimSpace(string(t.Command().Data)), msg)})
		return
	}
	d.apply(frame)
	t.Success(nil)
}

// query reads the whole state after every connect.
func (d *Display) query(ctx context.Context, conn *sdk.TCP) {
	resp, err := conn.Request(ctx, []byte("STATUS?\r\n"))
	if err != nil {
		d.Logger().Warn("status query failed", "error", err)
		return
	}
	d.apply(resp)
}

// received takes lines no command claimed: front-panel changes.
func (d *Display) received(frame []byte, _ *sdk.Task) { d.apply(frame) }

// apply applies a line from the device, an answer or a front-panel change.
func (d *Display) apply(frame []byte) {
	line := strings.TrimSpace(string(frame))
	if rest, ok := strings.CutPrefix(line, "STATUS "); ok {
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			d.set(k, v)
		}
		return
	}
	k, v, _ := strings.Cut(line, " ")
	d.set(k, v)
}

func (d *Display) set(key, value string) {
	switch key {
	case "POWER":
		d.Set("power", value == "ON")
	case "INPUT":
		d.Set("input", strings.ToLower(value))
	case "VOLUME":
		if n, err := strconv.Atoi(value); err == nil {
			d.Set("volume", n)
		}
	case "REBOOT":
		d.Logger().Info("display is rebooting")
	default:
		d.Logger().Debug("unrecognised line from display", "line", key+" "+value)
	}
}
