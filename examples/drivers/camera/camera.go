package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// Settings of a camera module.
type Settings struct {
	// VISCA over IP cannot tell the driver that someone used the IR remote, so the driver asks.
	PollSeconds int `json:"poll_seconds,omitempty" default:"60" minimum:"1" description:"how often power and zoom are read back, in seconds"`
}

// Camera drives a PTZ camera over VISCA over IP (UDP), e.g. examples/sims/camera. It keeps the
// statuses power, zoom (0-100), moving (the direction, or false), preset and connected.
//
// UDP has no connection: the transport is "connected" once the socket is open, a lost datagram
// shows up as a command timeout and the queue sends the command again, and an answer is matched
// to its command by the sequence number both carry, so a late answer to an earlier attempt is
// never taken for the current command's.
type Camera struct {
	sdk.Base
	conn *sdk.UDP
	seq  atomic.Uint32
}

// New makes the driver value of one module.
func New() *Camera { return &Camera{} }

// options are the driver's Serve options; the tests use the same.
var options = []sdk.Option{sdk.Version("1.0.0"), sdk.SettingsType[Settings]()}

// Payload types of the VISCA over IP header.
const (
	typeCommand      = 0x0100
	typeInquiry      = 0x0110
	typeControl      = 0x0200
	typeControlReply = 0x0201
)

// commandTimeout is one attempt: a camera on the LAN answers in milliseconds, so a datagram
// that got no answer in a second was lost and is sent again (the queue's retries).
const commandTimeout = time.Second

// maxZoom is the camera's tele end; zoom positions 0-100 map onto 0-maxZoom.
const maxZoom = 0x4000

// OnLoad opens the socket and reads the camera's state, then polls it.
func (c *Camera) OnLoad(context.Context) error {
	var s Settings
	if err := c.Settings(&s); err != nil {
		return err
	}
	c.conn = sdk.NewUDP(&c.Base, sdk.UDPOptions{OnConnect: c.connected})
	c.Schedule().Every(time.Duration(s.PollSeconds)*time.Second, func(ctx context.Context) { _ = c.Query(ctx) })
	return nil
}

// Power turns the camera on or wakes it from standby, and returns the new state.
func (c *Camera) Power(ctx context.Context, a sdk.PowerArgs) (bool, error) {
	p := []byte{0x81, 0x01, 0x04, 0x00, 0x03, 0xFF}
	if a.State {
		p[4] = 0x02
	}
	if _, err := c.do(ctx, "power", typeCommand, p); err != nil {
		return false, err
	}
	c.Set("power", a.State)
	if !a.State {
		c.Set("moving", false)
	}
	return a.State, nil
}

// Zoom moves the lens to a position from 0 (wide) to 100 (tele) and returns it.
func (c *Camera) Zoom(ctx context.Context, a sdk.ZoomArgs) (int, error) {
	z := a.Position * maxZoom / 100
	p := []byte{0x81, 0x01, 0x04, 0x47, byte(z >> 12 & 0xF), byte(z >> 8 & 0xF), byte(z >> 4 & 0xF), byte(z & 0xF), 0xFF}
	// Named: a zoom slider dragged quickly replaces the queued position instead of queueing
	// every step.
	if _, err := c.do(ctx, "zoom", typeCommand, p); err != nil {
		return 0, err
	}
	c.Set("zoom", a.Position)
	return a.Position, nil
}

// Move starts panning or tilting in a direction; "stop" ends the move.
func (c *Camera) Move(ctx context.Context, a sdk.MoveArgs) error {
	dir := map[string][2]byte{"up": {3, 1}, "down": {3, 2}, "left": {1, 3}, "right": {2, 3}, "stop": {3, 3}}[a.Direction]
	const panSpeed, tiltSpeed = 0x08, 0x08
	p := []byte{0x81, 0x01, 0x06, 0x01, panSpeed, tiltSpeed, dir[0], dir[1], 0xFF}
	// Move commands are named alike: a stop replaces a move that has not been sent yet.
	if _, err := c.do(ctx, "move", typeCommand, p); err != nil {
		return err
	}
	if a.Direction == "stop" {
		c.Set("moving", false)
	} else {
		c.Set("moving", a.Direction)
	}
	return nil
}

// PresetArgs name a camera preset.
type PresetArgs struct {
	Number int `json:"number" minimum:"0" maximum:"127" description:"preset number"`
}

// Preset recalls a stored position and returns its number.
func (c *Camera) Preset(ctx context.Context, a PresetArgs) (int, error) {
	if _, err := c.do(ctx, "", typeCommand, []byte{0x81, 0x01, 0x04, 0x3F, 0x02, byte(a.Number), 0xFF}); err != nil {
		return 0, err
	}
	c.Set("preset", a.Number)
	c.Set("moving", false)
	// The recalled position includes the zoom; read it rather than guess.
	_ = c.queryZoom(ctx)
	return a.Number, nil
}

// SavePresetArgs name the preset to store the current position in; support staff only, so a
// user cannot overwrite the positions a room was set up with.
type SavePresetArgs struct {
	sdk.Support
	Number int `json:"number" minimum:"0" maximum:"127" description:"preset number"`
}

// SavePreset stores the current position as a preset.
func (c *Camera) SavePreset(ctx context.Context, a SavePresetArgs) error {
	_, err := c.do(ctx, "", typeCommand, []byte{0x81, 0x01, 0x04, 0x3F, 0x01, byte(a.Number), 0xFF})
	return err
}

// Query reads power and zoom from the camera.
func (c *Camera) Query(ctx context.Context) error {
	p, err := c.do(ctx, "", typeInquiry, []byte{0x81, 0x09, 0x04, 0x00, 0xFF})
	if err != nil {
		return err
	}
	on := len(p) == 1 && p[0] == 0x02
	c.Set("power", on)
	if !on {
		return nil // a camera in standby does not answer zoom inquiries usefully
	}
	return c.queryZoom(ctx)
}

func (c *Camera) queryZoom(ctx context.Context) error {
	p, err := c.do(ctx, "", typeInquiry, []byte{0x81, 0x09, 0x04, 0x47, 0xFF})
	if err != nil {
		return err
	}
	if len(p) != 4 {
		return fmt.Errorf("zoom inquiry: unexpected answer % x", p)
	}
	z := int(p[0]&0xF)<<12 | int(p[1]&0xF)<<8 | int(p[2]&0xF)<<4 | int(p[3]&0xF)
	c.Set("zoom", (z*100+maxZoom/2)/maxZoom)
	return nil
}

// connected runs once the socket is open: reset the camera's sequence counter (the first
// datagram a VISCA over IP controller sends), then read the state.
func (c *Camera) connected(ctx context.Context, _ *sdk.UDP) {
	if _, err := c.do(ctx, "", typeControl, []byte{0x01}); err != nil {
		c.Logger().Warn("camera did not answer the sequence reset", "error", err)
		return
	}
	if err := c.Query(ctx); err != nil {
		c.Logger().Warn("camera state query failed", "error", err)
	}
}

// do sends one VISCA payload through the queue and waits for the camera's completion (nil) or
// inquiry answer (the bytes between the 90 5y header and the FF terminator).
func (c *Camera) do(ctx context.Context, name string, typ uint16, payload []byte) ([]byte, error) {
	seq := c.seq.Add(1)
	if typ == typeControl {
		c.seq.Store(0) // the reset itself goes out as 0 and restarts the count
		seq = 0
	}
	v, err := c.Queue().Do(ctx, sdk.Command{Name: name, Data: packet(typ, seq, payload), Timeout: commandTimeout, Response: c.response})
	if err != nil {
		return nil, err
	}
	b, _ := v.([]byte)
	return b, nil
}

// response takes the datagrams that arrive while a command runs.
func (c *Camera) response(frame []byte, t *sdk.Task) {
	sent := t.Command().Data
	if len(frame) < 8 || int(binary.BigEndian.Uint16(frame[2:4])) != len(frame)-8 ||
		binary.BigEndian.Uint32(frame[4:8]) != binary.BigEndian.Uint32(sent[4:8]) {
		c.Logger().Debug("ignoring a datagram that does not answer the running command", "datagram", fmt.Sprintf("% x", frame))
		return
	}
	typ, p := binary.BigEndian.Uint16(frame[0:2]), frame[8:]
	if typ == typeControlReply {
		if len(p) == 1 && p[0] == 0x01 {
			t.Success(nil)
		} else {
			t.Fail(&sdk.Error{Status: 502, Kind: "DeviceError", Err: fmt.Errorf("camera refused the control command: % x", p)})
		}
		return
	}
	if len(p) < 3 || p[0] != 0x90 || p[len(p)-1] != 0xFF {
		return
	}
	switch p[1] & 0xF0 {
	case 0x40: // ACK: the command is executing; its completion follows
		t.ResetTimer()
	case 0x50:
		if binary.BigEndian.Uint16(sent[0:2]) == typeInquiry {
			t.Success(p[2 : len(p)-1])
		} else {
			t.Success(nil)
		}
	case 0x60:
		t.Fail(viscaError(p, sent[8:]))
	}
}

// viscaError turns a VISCA error reply into the error the caller gets.
func viscaError(reply, sent []byte) error {
	var code byte
	if len(reply) == 4 {
		code = reply[2]
	}
	switch code {
	case 0x41:
		return &sdk.Error{Status: 409, Kind: "DeviceError", Err: fmt.Errorf("camera cannot execute % x now (in standby, or no such preset)", sent)}
	case 0x03:
		return &sdk.Error{Status: 503, Kind: "DeviceError", Err: fmt.Errorf("camera command buffer full")}
	}
	return &sdk.Error{Status: 502, Kind: "DeviceError", Err: fmt.Errorf("camera rejected % x: error % x", sent, reply)}
}

// packet builds a VISCA over IP datagram: payload type, payload length, sequence number.
func packet(typ uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:2], typ)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(payload)))
	binary.BigEndian.PutUint32(b[4:8], seq)
	return append(b, payload...)
}
