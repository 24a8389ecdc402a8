package main

import (
	"errors"
	"fmt"

	"github.com/placeos-go/engine/sdk"
)

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
		d.Set("volume", int(v[1]))
		d.setMute(v[2])
		d.Set("input", inputName(v[3]))
	case cmdPower:
		d.setPower(func() { d.powered = v[0] == 1 })
	case cmdPanel:
		d.setPower(func() { d.panelOff = v[0] == 1 })
	case cmdVolume:
		d.Set("volume", int(v[0]))
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

func (d *MDC) setMute(v byte) {
	d.Set("mute", v == 1)
	d.Set("audio_mute", v == 1)
}
