package main

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// hx spells a frame as the protocol document does: "AA 11 FE 01 01 11".
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Frames of display id 1, checksums worked out by hand.
var (
	statusQuery = hx("AA 00 01 00 01")
	statusOff   = hx("AA FF 01 09 41 00 00 1E 00 21 10 00 00 99") // off, volume 30, unmuted, HDMI1
	powerOn     = hx("AA 11 01 01 01 14")
	powerOnAck  = hx("AA FF 01 03 41 11 01 56")
)

// start runs the driver against the harness's mock device in virtual time and answers the
// status query every connect sends.
func start(t *testing.T, s Settings) (*sdktest.Harness, *sdktest.Device, *sdktest.Clock) {
	t.Helper()
	clk := sdktest.NewClock()
	h := sdktest.New(t, New, append(options, sdk.WithClock(clk))...)
	dev := h.TCPDevice()
	h.Start(sdktest.Module{Name: "Display", Settings: s})
	h.WaitStatus("connected", true)
	if s.DisplayID == 1 {
		dev.ShouldSend(statusQuery)
		dev.Respond(statusOff)
		h.WaitStatus("input", "hdmi1")
	}
	return h, dev, clk
}

// exec runs fn while the test plays the display: the driver must send want, the display
// answers with reply.
func exec(t *testing.T, h *sdktest.Harness, dev *sdktest.Device, want, reply []byte, fn string, args ...any) sdktest.Result {
	t.Helper()
	p := h.ExecAsync(fn, args...)
	dev.ShouldSend(want)
	dev.Respond(reply)
	return p.Result()
}

func TestFrameByFrame(t *testing.T) {
	t.Parallel()
	h, dev, _ := start(t, Settings{DisplayID: 1, PollSeconds: -1})
	for _, s := range []struct{ name, want string }{
		{"power", "false"}, {"volume", "30"}, {"mute", "false"}, {"audio_mute", "false"},
		{"volume_min", "0"}, {"volume_max", "100"},
	} {
		if got, _ := h.Status(s.name); string(got) != s.want {
			t.Errorf("status %s = %s after the status query, want %s", s.name, got, s.want)
		}
	}

	tests := []struct {
		fn         string
		args       []any
		sent, ack  string
		result     string
		status     string
		statusWant any
	}{
		{"power", []any{true}, "AA 11 01 01 01 14", "AA FF 01 03 41 11 01 56", "true", "power", true},
		{"switch_to", []any{"HDMI2"}, "AA 14 01 01 23 39", "AA FF 01 03 41 14 23 7B", `"hdmi2"`, "input", "hdmi2"},
		{"switch_to", []any{"vga"}, "AA 14 01 01 14 2A", "AA FF 01 03 41 14 14 6C", `"pc"`, "input", "pc"}, // PlaceOS's name
		{"volume", []any{70}, "AA 12 01 01 46 5A", "AA FF 01 03 41 12 46 9C", "70", "volume", 70},
		{"mute", []any{}, "AA 13 01 01 01 16", "AA FF 01 03 41 13 01 58", "true", "audio_mute", true}, // default: mute
		{"mute", []any{false}, "AA 13 01 01 00 15", "AA FF 01 03 41 13 00 57", "false", "mute", false},
		{"power", []any{false}, "AA 11 01 01 00 13", "AA FF 01 03 41 11 00 55", "false", "power", false},
		{"query", nil, "AA 00 01 00 01", "AA FF 01 09 41 00 01 46 01 23 10 00 00 C5", "null", "input", "hdmi2"},
	}
	for _, tc := range tests {
		r := exec(t, h, dev, hx(tc.sent), hx(tc.ack), tc.fn, tc.args...)
		if r.Err != nil || string(r.Value) != tc.result {
			t.Fatalf("%s %v: %s, want %s", tc.fn, tc.args, r, tc.result)
		}
		h.WaitStatus(tc.status, tc.statusWant)
	}
	h.WaitStatus("audio_mute", true) // the query's status says muted
	h.WaitStatus("power", true)

	// An Ack with no values confirms what was sent.
	if r := exec(t, h, dev, hx("AA 12 01 01 0A 1E"), hx("AA FF 01 02 41 12 55"), "volume", 10); string(r.Value) != "10" {
		t.Fatalf("volume with a bare Ack: %s", r)
	}
	// Refused before anything is sent.
	if r := h.Exec("switch_to", "hdmi9"); r.Code != 400 || !strings.Contains(r.Message(), "hdmi1, hdmi1_pc") {
		t.Fatalf("unknown input: %s", r)
	}
	if r := h.Exec("volume", 101); r.Code != 400 || !strings.Contains(r.Message(), "maximum") {
		t.Fatalf("volume 101: %s", r)
	}
	dev.ShouldNotSend(20 * time.Millisecond)
}

// TestSplitAndMergedReplies: TCP delivers a reply in pieces, several replies in one read, and
// noise; the tokenizer frames by the length byte whatever the reads.
func TestSplitAndMergedReplies(t *testing.T) {
	t.Parallel()
	h, dev, _ := start(t, Settings{DisplayID: 1, PollSeconds: -1})

	p := h.ExecAsync("power", true)
	dev.ShouldSend(powerOn)
	for _, b := range powerOnAck {
		dev.Respond([]byte{b}) // one byte a write
	}
	if r := p.Result(); string(r.Value) != "true" {
		t.Fatalf("power with a reply byte by byte: %s", r)
	}

	// The volume's Ack, then in the same write a late status reply (unmuted → muted, HDMI2)
	// after two bytes of line noise: both replies count.
	p = h.ExecAsync("volume", 70)
	dev.ShouldSend(hx("AA 12 01 01 46 5A"))
	dev.Respond(hx("AA FF 01 03 41 12 46 9C 00 13 AA FF 01 09 41 00 01 46 01 23 10 00 00 C5"))
	if r := p.Result(); string(r.Value) != "70" {
		t.Fatalf("volume: %s", r)
	}
	h.WaitStatus("input", "hdmi2")
	h.WaitStatus("audio_mute", true)
}

// TestBadChecksumNakAndTimeout: a damaged reply is dropped and the command sent again after its
// timeout; a Nak fails the call with the device's error code; silence fails it after the
// retries.
func TestBadChecksumNakAndTimeout(t *testing.T) {
	t.Parallel()
	h, dev, clk := start(t, Settings{DisplayID: 1, PollSeconds: -1})

	p := h.ExecAsync("switch_to", "dvi")
	dvi := hx("AA 14 01 01 18 2E")
	dev.ShouldSend(dvi)
	dev.Respond(hx("AA FF 01 03 41 14 18 71")) // checksum off by one
	if e := h.WaitLog("dropping a bad frame"); e.Level != "warn" || e.Fields["frame"] != "AA FF 01 03 41 14 18 71" ||
		e.Fields["error"] != "checksum 71, want 70" {
		t.Fatalf("bad checksum logged as %s", e)
	}
	if p.Done() {
		t.Fatalf("a reply with a bad checksum completed the command: %s", p.Result())
	}
	clk.Advance(sdk.DefaultTimeout)
	dev.ShouldSend(dvi)
	dev.Respond(hx("AA FF 01 03 41 14 18 70"))
	if r := p.Result(); string(r.Value) != `"dvi"` {
		t.Fatalf("switch_to after a damaged reply: %s", r)
	}

	r := exec(t, h, dev, hx("AA 12 01 01 14 28"), hx("AA FF 01 03 4E 12 03 66"), "volume", 20)
	if r.Code != 502 || r.Class() != "DeviceError" ||
		r.Message() != "display refused the volume command (AA 12 01 01 14 28): NAK, error code 0x03" {
		t.Fatalf("volume refused: %s", r)
	}
	dev.ShouldNotSend(20 * time.Millisecond) // a Nak is final: no retry

	p = h.ExecAsync("power", true)
	for range 1 + sdk.DefaultRetries {
		dev.ShouldSend(powerOn)
		clk.Advance(sdk.DefaultTimeout)
	}
	if r := p.Result(); r.Code != 504 {
		t.Fatalf("power with the display silent: %s", r)
	}
}

// TestPollAndReconnect: the poll notices a change made with the remote; after the connection
// drops the driver reconnects and reads the state again.
func TestPollAndReconnect(t *testing.T) {
	t.Parallel()
	h, dev, clk := start(t, Settings{DisplayID: 1, PollSeconds: 60})

	clk.Advance(time.Minute)
	dev.ShouldSend(statusQuery)
	dev.Respond(hx("AA FF 01 09 41 00 01 1E 00 21 10 00 00 9A")) // someone turned it on
	h.WaitStatus("power", true)

	mark := h.Mark()
	dev.Disconnect()
	h.WaitChange(mark, "connected", false)
	ctx, cancel := context.WithTimeout(context.Background(), sdktest.Timeout)
	defer cancel()
	if err := clk.WaitTimers(ctx, 2); err != nil { // the poll and the reconnect backoff
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	dev.ExpectConnect(2)
	h.WaitStatus("connected", true)
	dev.ShouldSend(statusQuery)
	dev.Respond(statusOff)
	h.WaitStatus("power", false)
}

// TestDisplayIDAndBroadcast: frames carry the display id, replies of other ids are not taken
// for this display's; the broadcast id is obeyed unanswered.
func TestDisplayIDAndBroadcast(t *testing.T) {
	t.Parallel()
	h, dev, _ := start(t, Settings{DisplayID: 5, PollSeconds: -1})
	dev.ShouldSend(hx("AA 00 05 00 05"))
	dev.Respond(hx("AA FF 05 09 41 00 00 1E 00 21 10 00 00 9D"))
	h.WaitStatus("input", "hdmi1")

	p := h.ExecAsync("power", true)
	dev.ShouldSend(hx("AA 11 05 01 01 18"))
	dev.Respond(hx("AA FF 06 03 41 11 01 5B")) // display 6 on the same chain
	dev.ShouldNotSend(20 * time.Millisecond)
	if p.Done() {
		t.Fatalf("display 6's Ack completed display 5's command: %s", p.Result())
	}
	dev.Respond(hx("AA FF 05 03 41 11 01 5A"))
	if r := p.Result(); string(r.Value) != "true" {
		t.Fatalf("power: %s", r)
	}

	// A new id takes effect without a reconnect, and the state is read again from that display.
	h.Settings(Settings{DisplayID: 7, PollSeconds: -1})
	dev.ShouldSend(hx("AA 00 07 00 07"))
	dev.Respond(hx("AA FF 07 09 41 00 00 0A 00 23 10 00 00 8D"))
	h.WaitStatus("volume", 10)

	h.Settings(Settings{DisplayID: broadcast, PollSeconds: -1})
	p = h.ExecAsync("power", false)
	dev.ShouldSend(hx("AA 11 FE 01 00 10"))
	if r := p.Result(); string(r.Value) != "false" {
		t.Fatalf("power off by broadcast: %s", r)
	}
	h.WaitStatus("power", false)
	if r := h.Exec("query"); r.Code != 409 || !strings.Contains(r.Message(), "never answered") {
		t.Fatalf("query by broadcast: %s", r)
	}
}

// TestPanelPower: with power_off panel, off darkens the panel and on lights it again; the panel
// is read with the status.
func TestPanelPower(t *testing.T) {
	t.Parallel()
	h, dev, _ := start(t, Settings{DisplayID: 1, PowerOff: "panel", PollSeconds: -1})
	dev.ShouldSend(hx("AA F9 01 00 FA"))
	dev.Respond(hx("AA FF 01 03 41 F9 00 3D"))

	p := h.ExecAsync("power", true)
	dev.ShouldSend(powerOn)
	dev.Respond(powerOnAck)
	dev.ShouldSend(hx("AA F9 01 01 00 FB"))
	dev.Respond(hx("AA FF 01 03 41 F9 00 3D"))
	if r := p.Result(); string(r.Value) != "true" {
		t.Fatalf("power on: %s", r)
	}
	r := exec(t, h, dev, hx("AA F9 01 01 01 FC"), hx("AA FF 01 03 41 F9 01 3E"), "power", false)
	if string(r.Value) != "false" {
		t.Fatalf("power off: %s", r)
	}
	h.WaitStatus("power", false)
}

// TestSecuredProtocol: a display that wants MDC over TLS says so before anything else; the
// caller learns what to change instead of waiting for timeouts.
func TestSecuredProtocol(t *testing.T) {
	t.Parallel()
	h, dev, _ := start(t, Settings{DisplayID: 2, PollSeconds: -1})
	dev.ShouldSend(hx("AA 00 02 00 02"))
	dev.Respond("MDCSTART<<")
	dev.Respond("TLS>>")
	h.WaitLog("display refused plain MDC")
	r := exec(t, h, dev, hx("AA 11 02 01 01 15"), []byte("MDCSTART<<TLS>>"), "power", true)
	if r.Code != 502 || !strings.Contains(r.Message(), "secured protocol setting off") {
		t.Fatalf("power on a secured display: %s", r)
	}
}

// TestBadSettings: a module whose settings make no sense does not start, and says which
// setting is wrong; a call gets the same answer.
func TestBadSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		settings any
		want     string
	}{
		{map[string]any{"display_id": 255}, `setting "display_id": 255 is above the maximum 254`},
		{map[string]any{"power_off": "sleep"}, `setting "power_off": sleep is not one of [standby panel]`},
		{map[string]any{"poll_seconds": -5}, `setting "poll_seconds": -5 is below the minimum -1`},
		{map[string]any{"display_id": "one"}, `setting "display_id": cannot use JSON string as int`},
	} {
		h := sdktest.New(t, New, options...)
		h.TCPDevice()
		if err := h.TryStart(sdktest.Module{Name: "Display", Settings: tc.settings}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("settings %v: start: %v, want %q", tc.settings, err, tc.want)
		}
		if r := h.Exec("power", true); r.Code != 503 || !strings.Contains(r.Message(), tc.want) {
			t.Errorf("settings %v: power: %s, want 503 %q", tc.settings, r, tc.want)
		}
	}
}

func TestModuleWithoutPortUsesMDCPort(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, New, options...)
	h.Start(sdktest.Module{Name: "Display", IP: "127.0.0.1", Settings: Settings{PollSeconds: -1}})
	// "connect failed", or "connected" should something listen on 1515: both name the address.
	e := h.WaitLog("connect")
	if e.Fields["address"] != "127.0.0.1:1515" {
		t.Fatalf("connect failed: %s", e)
	}
}
