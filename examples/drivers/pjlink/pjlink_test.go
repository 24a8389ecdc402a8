package main

import (
	"crypto/md5" //nolint:gosec // PJLink's authentication is MD5 by specification
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// projector plays the projector with the harness's mock TCP device: every byte is checked.
type projector struct {
	t   *testing.T
	dev *sdktest.Device
}

// answer expects the driver to send sent and answers with reply (CR added to both).
func (p projector) answer(sent, reply string) {
	p.t.Helper()
	p.dev.ShouldSend(sent + "\r")
	p.dev.Respond(reply + "\r")
}

// login greets a new connection and answers the class query it starts with, which carries
// digest with authentication.
func (p projector) login(greeting, digest string) {
	p.t.Helper()
	p.dev.Respond(greeting + "\r")
	p.answer(digest+"%1CLSS ?", "%1CLSS=1")
}

// connectQuery answers the reads a logged-in connection starts with, the projector being off.
func (p projector) connectQuery() {
	p.t.Helper()
	p.answer("%1POWR ?", "%1POWR=0")
	p.answer("%1ERST ?", "%1ERST=000000")
	p.answer("%1LAMP ?", "%1LAMP=1200 0")
	p.answer("%1NAME ?", "%1NAME=Boardroom")
	p.answer("%1INF1 ?", "%1INF1=EngineSim")
	p.answer("%1INF2 ?", "%1INF2=PJ-1")
	p.answer("%1INST ?", "%1INST=11 31 32")
}

// start runs the driver against a mock projector that greets with greeting.
func start(t *testing.T, settings Settings, opts ...sdk.Option) (*sdktest.Harness, projector) {
	t.Helper()
	h := sdktest.New(t, New, append(options, opts...)...)
	p := projector{t: t, dev: h.TCPDevice()}
	h.Start(sdktest.Module{Name: "Projector", Settings: settings})
	p.dev.ExpectConnect(1)
	return h, p
}

// retryAfter is the retry hint of a failed call.
func retryAfter(r sdktest.Result) time.Duration {
	var e *sdk.Error
	if errors.As(r.Err, &e) {
		return e.RetryAfter
	}
	return 0
}

func mustFail(t *testing.T, r sdktest.Result, code int, class, text string) {
	t.Helper()
	if r.Code != code || r.Class() != class || !strings.Contains(r.Message(), text) {
		t.Fatalf("got %s, want %d %s containing %q", r, code, class, text)
	}
}

// TestByteByByte plays a whole session in virtual time: greeting, state query, power on with
// its warm-up, inputs, mutes, every error answer and a silent projector.
func TestByteByByte(t *testing.T) {
	t.Parallel()
	clk := sdktest.NewClock()
	h, p := start(t, Settings{PollSeconds: 3600, Inputs: map[string]string{"Laptop": "32"}}, sdk.WithClock(clk))

	// Nothing goes out before the projector has greeted.
	p.dev.ShouldNotSend(50 * time.Millisecond)
	p.login("PJLINK 0", "")
	h.WaitStatus("connected", true)
	p.connectQuery()
	h.WaitStatus("pjlink_class", "1")
	h.WaitStatus("inputs", []string{"rgb1", "digital1", "laptop"})
	h.WaitStatus("errors", map[string]string{"fan": "ok", "lamp": "ok", "temperature": "ok", "cover": "ok", "filter": "ok", "other": "ok"})
	h.WaitStatus("lamps", []Lamp{{Hours: 1200}})
	h.WaitStatus("lamp_hours", 1200)
	h.WaitStatus("model", "PJ-1")
	h.WaitStatus("power", false)

	// Power on: the projector warms up; the driver follows it every 5 s until it is on.
	call := h.ExecAsync("power", true)
	p.answer("%1POWR 1", "%1POWR=OK")
	p.answer("%1POWR ?", "%1POWR=3")
	if r := call.Result(); string(r.Value) != "true" {
		t.Fatalf("power on: %s", r)
	}
	h.WaitStatus("warming", true)
	h.WaitStatus("power", true)
	clk.Advance(followEvery)
	p.answer("%1POWR ?", "%1POWR=3")
	p.answer("%1ERST ?", "%1ERST=000000")
	p.answer("%1LAMP ?", "%1LAMP=1200 1")
	h.WaitIdle() // the poll is over: time may pass
	clk.Advance(followEvery)
	p.answer("%1POWR ?", "%1POWR=1")
	p.answer("%1INPT ?", "%1INPT=32")
	p.answer("%1AVMT ?", "%1AVMT=21")
	p.answer("%1ERST ?", "%1ERST=001000")
	p.answer("%1LAMP ?", "%1LAMP=1201 1")
	h.WaitStatus("warming", false)
	h.WaitStatus("input", "laptop")
	h.WaitStatus("audio_mute", true)
	h.WaitStatus("video_mute", false)
	h.WaitStatus("errors", map[string]string{"fan": "ok", "lamp": "ok", "temperature": "warning", "cover": "ok", "filter": "ok", "other": "ok"})
	h.WaitStatus("lamp_hours", 1201)
	clk.Advance(followEvery)
	p.dev.ShouldNotSend(20 * time.Millisecond) // on: no more following

	// Inputs by PJLink name, by code and by the setting's name.
	for _, tc := range []struct{ input, sent, want string }{
		{"DIGITAL1", "31", `"digital1"`}, {"12", "12", `"rgb2"`}, {"laptop", "32", `"laptop"`},
	} {
		call = h.ExecAsync("switch_to", tc.input)
		p.answer("%1INPT "+tc.sent, "%1INPT=OK")
		if r := call.Result(); string(r.Value) != tc.want {
			t.Fatalf("switch_to %s: %s, want %s", tc.input, r, tc.want)
		}
	}
	mustFail(t, h.Exec("switch_to", "hdmi7"), 400, "Error", "unknown input")

	// Mutes: each sets its statuses; mute is picture and sound together.
	call = h.ExecAsync("mute", true)
	p.answer("%1AVMT 31", "%1AVMT=OK")
	if r := call.Result(); string(r.Value) != "true" {
		t.Fatalf("mute: %s", r)
	}
	h.WaitStatus("mute", true)
	call = h.ExecAsync("video_mute", false)
	p.answer("%1AVMT 10", "%1AVMT=OK")
	call.Result()
	h.WaitStatus("mute", false)
	h.WaitStatus("audio_mute", true)

	// Every error answer reaches the caller with its code; a line answering something else
	// does not complete the running command.
	errorCases := []struct {
		fn    string
		arg   any
		sent  string
		reply string
		code  int
		text  string
	}{
		{"switch_to", "digital9", "%1INPT 39", "%1INPT=ERR2", 400, "out of range"},
		{"audio_mute", false, "%1AVMT 20", "%1AVMT=ERR3", 503, "try again later"},
		{"video_mute", true, "%1AVMT 11", "%1AVMT=ERR1", 501, "does not support"},
		{"power", true, "%1POWR 1", "%1POWR=ERR4", 502, "projector failure"},
	}
	for _, tc := range errorCases {
		call = h.ExecAsync(tc.fn, tc.arg)
		p.dev.ShouldSend(tc.sent + "\r")
		p.dev.Respond("%1NAME=Boardroom\r")
		p.dev.Respond(tc.reply + "\r")
		mustFail(t, call.Result(), tc.code, tc.reply[7:], tc.text)
	}

	// A projector that stops answering: the command is sent again after each timeout, then 504.
	call = h.ExecAsync("audio_mute", true)
	for range 1 + sdk.DefaultRetries {
		p.dev.ShouldSend("%1AVMT 21\r")
		clk.Advance(sdk.DefaultTimeout)
	}
	if r := call.Result(); r.Code != 504 {
		t.Fatalf("audio_mute with the projector silent: %s", r)
	}

	// The regular poll.
	clk.Advance(time.Hour)
	p.answer("%1POWR ?", "%1POWR=2")
	p.answer("%1ERST ?", "%1ERST=000000")
	p.answer("%1LAMP ?", "%1LAMP=1260 0")
	h.WaitStatus("cooling", true)
	h.WaitStatus("power", false)
}

// TestAuthentication follows the specification's own example (random 498e4a67, password
// JBMIAProjectorLink, digest 5d8409bc1c3fa39749434aa3a5c38682): the digest goes with the
// first command of every connection and with no other.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	h, p := start(t, Settings{Password: "JBMIAProjectorLink", PollSeconds: 3600})
	p.login("PJLINK 1 498e4a67", "5d8409bc1c3fa39749434aa3a5c38682")
	p.connectQuery()
	h.WaitStatus("inputs", []string{"rgb1", "digital1", "digital2"})

	// A new connection has a new random, so a new digest.
	mark := h.Mark()
	p.dev.Disconnect()
	h.WaitChange(mark, "connected", false)
	p.dev.ExpectReconnect()
	sum := md5.Sum([]byte("0badf00dJBMIAProjectorLink")) //nolint:gosec // by specification
	p.login("PJLINK 1 0badf00d", hex.EncodeToString(sum[:]))
	p.connectQuery()
	call := h.ExecAsync("power", true)
	p.answer("%1POWR 1", "%1POWR=OK")
	p.answer("%1POWR ?", "%1POWR=1")
	if r := call.Result(); r.Err != nil {
		t.Fatalf("power after reconnecting: %s", r)
	}

	// A refused password closes the connection: calls fail with the reason until a login works,
	// and nothing is sent meanwhile.
	p.dev.Disconnect()
	p.dev.ExpectReconnect()
	p.dev.Respond("PJLINK 1 12345678\r")
	p.dev.ExpectSend()
	p.dev.Respond("PJLINK ERRA\r")
	h.WaitLog("handshake failed")
	mustFail(t, h.Exec("power", false), 502, "ERRA", "refused the password")
	p.dev.ShouldNotSend(20 * time.Millisecond)
}

func TestPasswordMissing(t *testing.T) {
	t.Parallel()
	h, p := start(t, Settings{PollSeconds: 3600})
	p.dev.Respond("PJLINK 1 498e4a67\r")
	h.WaitLog("handshake failed")
	mustFail(t, h.Exec("power", true), 502, "ERRA", "set its password setting")
	p.dev.ShouldNotSend(20 * time.Millisecond)
}

// TestSilentDevice: a device that never greets fails calls clearly, and the driver opens a new
// connection in case it greets that one.
func TestSilentDevice(t *testing.T) {
	t.Parallel()
	clk := sdktest.NewClock()
	h, p := start(t, Settings{PollSeconds: 3600}, sdk.WithClock(clk))
	// Two timers: the poll and the wait for the greeting.
	h.Wait("the handshake to wait for the greeting", func() bool { return clk.Pending() >= 2 })
	clk.Advance(sdk.DefaultHandshakeTimeout)
	if e := h.WaitLog("handshake failed"); !strings.Contains(e.String(), "no PJLink greeting") {
		t.Fatalf("log: %s", e)
	}
	mustFail(t, h.Exec("power", true), 504, "NoGreeting", "is this a PJLink projector")
	h.Wait("a new connection", func() bool {
		clk.Advance(time.Second)
		return p.dev.Connections() == 2
	})
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	m := sdktest.New(t, New, options...).Metadata()
	if !reflect.DeepEqual(m.Implements, []string{"Powerable", "InputSelectable", "Muteable"}) ||
		!reflect.DeepEqual(m.Functions.Keys(), []string{"power", "switch_to", "mute", "video_mute", "audio_mute", "query"}) {
		t.Fatalf("implements %v functions %v", m.Implements, m.Functions.Keys())
	}
}
