package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/examples/sims/camera/camerasim"
	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// Datagrams as the camera sees them: header (type, length, sequence) and VISCA payload.
func cmd(seq uint32, p ...byte) []byte     { return packet(typeCommand, seq, p) }
func inquiry(seq uint32, p ...byte) []byte { return packet(typeInquiry, seq, p) }
func reply(seq uint32, p ...byte) []byte   { return packet(0x0111, seq, p) }

var (
	reset         = packet(typeControl, 0, []byte{0x01})
	resetDone     = packet(typeControlReply, 0, []byte{0x01})
	powerInquiry  = []byte{0x81, 0x09, 0x04, 0x00, 0xFF}
	zoomInquiry   = []byte{0x81, 0x09, 0x04, 0x47, 0xFF}
	ack           = []byte{0x90, 0x41, 0xFF}
	completion    = []byte{0x90, 0x51, 0xFF}
	notExecutable = []byte{0x90, 0x61, 0x41, 0xFF}
)

// TestDatagramByDatagram plays the camera with the harness's mock UDP device in virtual time:
// every byte the driver sends is checked, lost datagrams are retried, stale answers ignored.
func TestDatagramByDatagram(t *testing.T) {
	t.Parallel()
	clk := sdktest.NewClock()
	h := sdktest.New(t, New, append(options, sdk.WithClock(clk))...)
	cam := h.UDPDevice()
	h.Start(sdktest.Module{Name: "Camera"})
	h.WaitStatus("connected", true)

	// On start: the sequence reset, then the state.
	cam.ShouldSend(reset)
	cam.Respond(resetDone)
	cam.ShouldSend(inquiry(1, powerInquiry...))
	cam.Respond(reply(1, 0x90, 0x50, 0x03, 0xFF)) // standby: zoom is not asked
	h.WaitStatus("power", false)

	p := h.ExecAsync("power", true)
	cam.ShouldSend(cmd(2, 0x81, 0x01, 0x04, 0x00, 0x02, 0xFF))
	cam.Respond(reply(2, ack...))
	cam.Respond(reply(2, completion...))
	if r := p.Result(); string(r.Value) != "true" {
		t.Fatalf("power: %s", r)
	}
	h.WaitStatus("power", true)

	// The datagram is lost: after the one-second timeout the same datagram goes again. The
	// camera's late answer to an earlier command does not complete this one.
	p = h.ExecAsync("zoom", 50)
	zoom := cmd(3, 0x81, 0x01, 0x04, 0x47, 0x02, 0x00, 0x00, 0x00, 0xFF)
	cam.ShouldSend(zoom)
	clk.Advance(time.Second)
	cam.ShouldSend(zoom)
	cam.Respond(reply(2, completion...))
	cam.ShouldNotSend(20 * time.Millisecond)
	if p.Done() {
		t.Fatalf("a stale answer completed the zoom: %s", p.Result())
	}
	cam.Respond(reply(3, completion...))
	if r := p.Result(); string(r.Value) != "50" {
		t.Fatalf("zoom: %s", r)
	}
	h.WaitStatus("zoom", 50)

	// The camera refuses: the caller gets the device's reason.
	p = h.ExecAsync("preset", 9)
	cam.ShouldSend(cmd(4, 0x81, 0x01, 0x04, 0x3F, 0x02, 0x09, 0xFF))
	cam.Respond(reply(4, notExecutable...))
	if r := p.Result(); r.Code != 409 || r.Class() != "DeviceError" || !strings.Contains(r.Message(), "no such preset") {
		t.Fatalf("preset 9: %s", r)
	}

	// No answer at all: three retries, then 504.
	p = h.ExecAsync("move", "left")
	move := cmd(5, 0x81, 0x01, 0x06, 0x01, 0x08, 0x08, 0x01, 0x03, 0xFF)
	for range 1 + sdk.DefaultRetries {
		cam.ShouldSend(move)
		clk.Advance(time.Second)
	}
	if r := p.Result(); r.Code != 504 {
		t.Fatalf("move with the camera silent: %s", r)
	}

	// The poll (every 60 s) notices a change made with the IR remote.
	clk.Advance(time.Minute)
	cam.ShouldSend(inquiry(6, powerInquiry...))
	cam.Respond(reply(6, 0x90, 0x50, 0x02, 0xFF))
	cam.ShouldSend(inquiry(7, zoomInquiry...))
	cam.Respond(reply(7, 0x90, 0x50, 0x01, 0x00, 0x00, 0x00, 0xFF))
	h.WaitStatus("zoom", 25)
}

// TestAgainstSimulator runs the driver against the real simulator in real time.
func TestAgainstSimulator(t *testing.T) {
	t.Parallel()
	sim, err := camerasim.New("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	h := sdktest.New(t, New, options...)
	h.Start(sdktest.Module{Name: "Camera", IP: "127.0.0.1", Port: sim.Port(), UDP: true})
	h.WaitStatus("power", false)

	tests := []struct {
		fn   string
		args []any
		code int
		want string
	}{
		{"zoom", []any{30}, 409, ""}, // in standby
		{"power", []any{true}, 200, "true"},
		{"zoom", []any{100}, 200, "100"},
		{"save_preset", []any{3}, 200, "null"},
		{"zoom", []any{0}, 200, "0"},
		{"move", []any{"left"}, 200, "null"},
		{"preset", []any{3}, 200, "3"},
		{"preset", []any{4}, 409, ""}, // never saved
		{"zoom", []any{101}, 400, ""}, // out of range: refused before the camera sees it
	}
	for _, tc := range tests {
		r := h.Exec(tc.fn, tc.args...)
		if r.Code != tc.code || (tc.want != "" && string(r.Value) != tc.want) {
			t.Fatalf("%s %v: %s, want %d %s", tc.fn, tc.args, r, tc.code, tc.want)
		}
	}
	h.WaitStatus("zoom", 100) // read back after the preset
	h.WaitStatus("moving", false)
	if st := sim.State(); !st.Power || st.Zoom != camerasim.MaxZoom || st.Preset != 3 || st.Moving != "" {
		t.Fatalf("camera state %+v", st)
	}

	// A lost datagram costs one timeout, not the command.
	sim.DropNext(1)
	if r := h.Exec("zoom", 40); string(r.Value) != "40" {
		t.Fatalf("zoom after a lost datagram: %s", r)
	}

	sim.SetPower(false) // the IR remote
	if r := h.Exec("query"); r.Err != nil {
		t.Fatalf("query: %s", r)
	}
	h.WaitStatus("power", false)
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	m := sdktest.New(t, New, options...).Metadata()
	if !reflect.DeepEqual(m.Implements, []string{"Powerable", "CameraMoveable", "CameraZoomable"}) ||
		!reflect.DeepEqual(m.Functions.Keys(), []string{"power", "zoom", "move", "preset", "save_preset", "query"}) {
		t.Fatalf("implements %v functions %v", m.Implements, m.Functions.Keys())
	}
	if s, _ := m.Security.Get("support"); !reflect.DeepEqual(s, []string{"save_preset"}) {
		t.Fatalf("security %v", m.Security)
	}
}
