package main

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/placeos-go/engine/sdk"
)

// MDC drives a Samsung display over MDC (Multiple Display Control) on TCP port 1515. It keeps
// the statuses power, volume, mute and audio_mute (the same value), input, volume_min,
// volume_max and connected.
type MDC struct {
	sdk.Base

	cfg atomic.Pointer[config]

	mu       sync.Mutex
	poll     *sdk.Job
	powered  bool // the display is on (power command, status byte 0)
	panelOff bool // the panel is dark (panel command)
}

// New makes the driver value of one module.
func New() *MDC { return &MDC{} }

// options are the driver's Serve options; the tests use the same.
var options = []sdk.Option{sdk.Version("1.0.0"), sdk.SettingsType[Settings]()}

// defaultPort is where displays listen for MDC, used when the module names no port.
const defaultPort = 1515

// pollPriority lets a user's command go before a queued poll.
const pollPriority = 10

// OnLoad reads the settings and connects; the statuses are read on every connect. With bad
// settings the module does not start: the error names the setting.
func (d *MDC) OnLoad(context.Context) error {
	if err := d.applySettings(); err != nil {
		return err
	}
	d.Set("volume_min", 0)
	d.Set("volume_max", 100)
	// The queue sends through the transport; nothing else needs to hold it.
	sdk.NewTCP(&d.Base, sdk.TCPOptions{DefaultPort: defaultPort, Tokenizer: tokenizer(),
		Received: d.received, OnConnect: func(ctx context.Context, _ *sdk.TCP) { d.refresh(ctx) }})
	return nil
}

// OnUpdate applies changed settings (a new display id takes effect with the next command) and
// reads the statuses again.
func (d *MDC) OnUpdate(ctx context.Context) error {
	if err := d.applySettings(); err != nil {
		return err
	}
	if d.Queue().Online() {
		d.Go(d.refresh)
	}
	return nil
}

// Power turns the display on or off and returns the new state. With power_off panel, off only
// darkens the panel and on also lights it again.
func (d *MDC) Power(ctx context.Context, a sdk.PowerArgs) (bool, error) {
	c, err := d.config()
	if err != nil {
		return false, err
	}
	// Power is urgent: it jumps ahead of queued input and volume changes.
	urgent := sdk.Command{Priority: 80}
	switch {
	case a.State:
		err = d.do(ctx, urgent, cmdPower, 1)
		if err == nil && c.panelPower {
			err = d.do(ctx, urgent, cmdPanel, 0)
		}
	case c.panelPower:
		err = d.do(ctx, urgent, cmdPanel, 1)
	default:
		err = d.do(ctx, urgent, cmdPower, 0)
	}
	if err != nil {
		return false, err
	}
	var on bool
	d.Status("power", &on)
	return on, nil
}

// SwitchTo selects an input by name (hdmi1, hdmi2, display_port1, dvi, pc, ...; the README
// lists them) and returns its name.
func (d *MDC) SwitchTo(ctx context.Context, a sdk.SwitchToArgs) (string, error) {
	code, err := inputCode(a.Input)
	if err != nil {
		return "", err
	}
	if err := d.do(ctx, sdk.Command{}, cmdInput, code); err != nil {
		return "", err
	}
	var in string
	d.Status("input", &in)
	return in, nil
}

// Volume sets the speaker level and returns it. Volume commands are named: a slider dragged
// quickly replaces the queued level instead of sending every step.
func (d *MDC) Volume(ctx context.Context, a sdk.VolumeArgs) (int, error) {
	if err := d.do(ctx, sdk.Command{Name: "volume"}, cmdVolume, byte(a.Level)); err != nil {
		return 0, err
	}
	var v int
	d.Status("volume", &v)
	return v, nil
}

// Mute mutes or unmutes the sound and returns the new state.
func (d *MDC) Mute(ctx context.Context, a sdk.MuteArgs) (bool, error) {
	var v byte
	if a.State {
		v = 1
	}
	if err := d.do(ctx, sdk.Command{}, cmdMute, v); err != nil {
		return false, err
	}
	var m bool
	d.Status("audio_mute", &m)
	return m, nil
}

// Query reads power, volume, mute and input from the display (and the panel with power_off
// panel), for changes made with the remote or the buttons: MDC never reports them by itself.
func (d *MDC) Query(ctx context.Context) error {
	c, err := d.config()
	if err != nil {
		return err
	}
	if c.id == broadcast {
		return sdk.Errorf(409, "display_id 254 broadcasts, and broadcasts are never answered: nothing can be read")
	}
	q := sdk.Command{Priority: pollPriority}
	if err := d.do(ctx, q, cmdStatus); err != nil {
		return err
	}
	if c.panelPower {
		return d.do(ctx, q, cmdPanel)
	}
	return nil
}

// refresh is Query for the poll, the connect hook and a settings update. Their failures have
// nobody to go to: the queue logs them as background commands.
func (d *MDC) refresh(ctx context.Context) {
	if c, err := d.config(); err == nil && c.id != broadcast {
		_ = d.Query(ctx)
	}
}

// do sends one command and waits for the display's Ack, whose values received has applied by
// then. A broadcast is never answered: it counts as done once sent, and what it set is
// applied as sent.
func (d *MDC) do(ctx context.Context, c sdk.Command, cmd byte, data ...byte) error {
	cfg, err := d.config()
	if err != nil {
		return err
	}
	c.Data = request(cmd, cfg.id, data...)
	c.NoWait = cfg.id == broadcast
	if _, err := d.Queue().Do(ctx, c); err != nil {
		return err
	}
	if c.NoWait {
		d.apply(cmd, data)
	}
	return nil
}
