package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// Settings of a Samsung display module.
type Settings struct {
	DisplayID   int    `json:"display_id,omitempty" description:"the display's ID from its menu, 0-253; 254 broadcasts to every display on the chain, which never answers [0]"`
	PowerOff    string `json:"power_off,omitempty" description:"what power(false) does: standby (MDC power off; the display must keep its network in standby to be turned on again) or panel (only the panel goes dark; the display stays on the network) [standby]"`
	PollSeconds int    `json:"poll_seconds,omitempty" description:"how often the status is read back, in seconds; -1 turns the poll off [30]"`
}

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

// config is the checked settings, or why they cannot be used.
type config struct {
	id         byte
	panelPower bool
	poll       time.Duration // 0: no poll
	err        error
}

// OnLoad reads the settings and connects; the statuses are read on every connect.
func (d *MDC) OnLoad(context.Context) error {
	d.Set("volume_min", 0)
	d.Set("volume_max", 100)
	err := d.applySettings()
	var addr string
	if mc := d.Config(); mc.Port == 0 {
		addr = net.JoinHostPort(mc.IP, strconv.Itoa(defaultPort))
	}
	// The queue sends through the transport; nothing else needs to hold it.
	sdk.NewTCP(&d.Base, sdk.TCPOptions{Address: addr, Tokenizer: newTokenizer(d.badFrame),
		Received: d.received, OnConnect: func(ctx context.Context, _ *sdk.TCP) { d.refresh(ctx) }})
	return err
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

// applySettings checks the settings and (re)schedules the poll. Bad settings are kept as the
// error every function returns until they are fixed.
func (d *MDC) applySettings() error {
	c := readConfig(&d.Base)
	d.cfg.Store(&c)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.poll != nil {
		d.poll.Cancel()
		d.poll = nil
	}
	if c.poll > 0 && c.id != broadcast {
		d.poll = d.Schedule().Every(c.poll, d.refresh)
	}
	return c.err
}

// readConfig checks the settings; the first problem found is the config's error.
func readConfig(b *sdk.Base) config {
	var s Settings
	err := b.Settings(&s)
	c := config{id: byte(s.DisplayID), panelPower: s.PowerOff == "panel", poll: 30 * time.Second}
	switch {
	case err != nil:
	case s.DisplayID < 0 || s.DisplayID > broadcast:
		err = fmt.Errorf("setting display_id %d: want 0-253, or 254 to broadcast", s.DisplayID)
	case s.PowerOff != "" && s.PowerOff != "standby" && s.PowerOff != "panel":
		err = fmt.Errorf("setting power_off %q: want standby or panel", s.PowerOff)
	case s.PollSeconds < -1:
		err = fmt.Errorf("setting poll_seconds %d: want seconds, or -1 for no poll", s.PollSeconds)
	case s.PollSeconds == -1:
		c.poll = 0
	case s.PollSeconds > 0:
		c.poll = time.Duration(s.PollSeconds) * time.Second
	}
	if err != nil {
		// The module's configuration is wrong, not the caller's request.
		c.err = &sdk.Error{Status: 500, Kind: "BadSettings", Err: err}
	}
	return c
}

// config is the module's checked settings, or why it has none that work.
func (d *MDC) config() (config, error) {
	c := d.cfg.Load()
	if c == nil {
		return config{}, sdk.ErrStopped // an exec racing the module's start or stop
	}
	return *c, c.err
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

// received takes every frame: the running command's Ack or Nak (t), or a late answer to a
// command that already timed out, whose values are still the display's state.
func (d *MDC) received(frame []byte, t *sdk.Task) {
	if string(frame) == string(securedBanner) {
		err := &sdk.Error{Status: 502, Kind: "DeviceError", Err: errors.New("the display requires the secured MDC protocol " +
			"(TLS with a PIN), which this driver does not speak: turn the display's secured protocol setting off")}
		d.Logger().Error("display refused plain MDC", "error", err)
		if t != nil {
			t.Fail(err)
		}
		return
	}
	r, err := parseReply(frame)
	c, _ := d.config()
	if err != nil || r.id != c.id {
		d.Logger().Debug("ignoring a frame for another display id, or not a reply", "frame", fmt.Sprintf("% X", frame))
		return
	}
	var sent []byte
	if t != nil && t.Command().Data[1] == r.cmd {
		sent = t.Command().Data
	}
	if !r.ack {
		if sent == nil {
			d.Logger().Debug("ignoring a Nak of a command no longer running", "frame", fmt.Sprintf("% X", frame))
			return
		}
		t.Fail(nakError(sent, r.values))
		return
	}
	values := r.values
	if len(values) == 0 && sent != nil {
		values = sent[4 : len(sent)-1] // an Ack without values confirms what was set
	}
	d.apply(r.cmd, values)
	if sent != nil {
		t.Success(nil)
	}
}

// nakError is what the caller of a refused command gets. The protocol document gives no
// meaning to the error code, so it is reported as is.
func nakError(sent, values []byte) error {
	code := "none"
	if len(values) > 0 {
		code = fmt.Sprintf("0x%02X", values[0])
	}
	return &sdk.Error{Status: 502, Kind: "DeviceError", Err: fmt.Errorf("display refused the %s command (% X): NAK, error code %s",
		commandNames[sent[1]], sent, code)}
}

// apply sets the statuses a command's values carry.
func (d *MDC) apply(cmd byte, v []byte) {
	if len(v) == 0 {
		return
	}
	switch cmd {
	case cmdStatus:
		if len(v) < 4 {
			d.Logger().Warn("short status reply", "values", fmt.Sprintf("% X", v))
			return
		}
		d.setPower(func() { d.powered = v[0] == 1 })
		d.setVolume(v[1])
		d.setMute(v[2])
		d.Set("input", inputName(v[3]))
	case cmdPower:
		d.setPower(func() { d.powered = v[0] == 1 })
	case cmdPanel:
		d.setPower(func() { d.panelOff = v[0] == 1 })
	case cmdVolume:
		d.setVolume(v[0])
	case cmdMute:
		d.setMute(v[0])
	case cmdInput:
		d.Set("input", inputName(v[0]))
	}
}

// setPower updates what the display said and publishes power: on when powered, and with
// power_off panel only while the panel is lit too.
func (d *MDC) setPower(change func()) {
	c, _ := d.config()
	d.mu.Lock()
	defer d.mu.Unlock()
	change()
	d.Set("power", d.powered && !(c.panelPower && d.panelOff))
}

func (d *MDC) setVolume(v byte) { d.Set("volume", int(v)) }

func (d *MDC) setMute(v byte) {
	d.Set("mute", v == 1)
	d.Set("audio_mute", v == 1)
}

// badFrame logs a reply the tokenizer dropped; the command it answered times out and is sent
// again.
func (d *MDC) badFrame(frame []byte) {
	d.Logger().Warn("dropping a reply with a bad checksum", "frame", fmt.Sprintf("% X", frame),
		"want_checksum", fmt.Sprintf("%02X", checksum(frame[1:len(frame)-1])))
}
