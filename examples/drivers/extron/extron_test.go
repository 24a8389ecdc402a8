package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// banner is how a DXP 84 HDMI opens a telnet connection.
const banner = "(c) Copyright 2009, Extron Electronics, DXP 84 HDMI, V1.02, 60-1094-01\r\nTue, 18 Aug 2009 10:19:41\r\n"

// switcher plays the switcher with the harness's mock TCP device: every byte is checked.
type switcher struct {
	t   *testing.T
	dev *sdktest.Device
}

// answer expects the driver to send sent and answers reply (CRLF added).
func (s switcher) answer(sent, reply string) {
	s.t.Helper()
	s.dev.ShouldSend(sent)
	s.dev.Respond(reply + "\r\n")
}

// connectQuery answers what a logged-in connection starts with, for a matrix of 4 inputs and
// 2 outputs: input 1 on output 1, nothing on output 2.
func (s switcher) connectQuery() {
	s.t.Helper()
	s.answer("\x1b3CV\r", "Vrb3")
	s.answer("I", "V4X2 A4X2")
	for _, q := range [][2]string{{"1%", "1"}, {"1$", "1"}, {"2%", "0"}, {"2$", "0"}} {
		s.answer(q[0], q[1])
	}
}

func start(t *testing.T, settings Settings, opts ...sdk.Option) (*sdktest.Harness, switcher) {
	t.Helper()
	h := sdktest.New(t, New, append(options, opts...)...)
	s := switcher{t: t, dev: h.TCPDevice()}
	h.Start(sdktest.Module{Name: "Switcher", Settings: settings})
	s.dev.ExpectConnect(1)
	return h, s
}

func mustFail(t *testing.T, r sdktest.Result, code int, class, text string) {
	t.Helper()
	if r.Code != code || r.Class() != class || !strings.Contains(r.Message(), text) {
		t.Fatalf("got %s, want %d %s containing %q", r, code, class, text)
	}
}

// TestByteByByte plays a session in virtual time: banner, verbose mode, the matrix read, ties
// of each kind, front-panel changes, mutes, volume and every error answer.
func TestByteByByte(t *testing.T) {
	t.Parallel()
	clk := sdktest.NewClock()
	h, s := start(t, Settings{PollSeconds: 3600}, sdk.WithClock(clk))

	// Nothing goes out before the banner.
	s.dev.ShouldNotSend(50 * time.Millisecond)
	s.dev.Respond(banner)
	s.answer("\x1b3CV\r", "Vrb3")
	h.WaitStatus("connected", true)
	s.answer("I", "V8X4 A8X4")
	for out := 1; out <= 4; out++ {
		s.answer(fmt.Sprintf("%d%%", out), fmt.Sprint(out))
		s.answer(fmt.Sprintf("%d$", out), "1")
	}
	h.WaitStatus("audio4", 1)
	h.WaitStatus("output4", 4)
	h.WaitStatus("outputs", 4)
	h.WaitStatus("model", "DXP 84 HDMI")
	h.WaitStatus("firmware", "1.02")

	ties := []struct {
		fn     string
		routes map[string]any
		sent   string
		reply  string
		status map[string]int
	}{
		{"switch", map[string]any{"3": 2}, "3*2!", "Out2 In3 All", map[string]int{"output2": 3, "audio2": 3}},
		// Padded numbers, as some models answer.
		{"switch_video", map[string]any{"4": []int{1}}, "4*1%", "Out01 In04 Vid", map[string]int{"output1": 4, "audio1": 1}},
		// Several ties go at once, in a quick multiple tie.
		{"switch_audio", map[string]any{"2": []int{4, 3}}, "\x1b+Q2*3$2*4$\r", "Qik", map[string]int{"audio3": 2, "audio4": 2, "output3": 3}},
		{"switch", map[string]any{"0": 1, "5": 2}, "\x1b+Q0*1!5*2!\r", "Qik", map[string]int{"output1": 0, "audio2": 5}},
	}
	for _, tc := range ties {
		call := h.ExecAsyncNamed(tc.fn, map[string]any{"map": tc.routes})
		s.answer(tc.sent, tc.reply)
		if r := call.Result(); r.Err != nil || string(r.Value) != "null" {
			t.Fatalf("%s %v: %s", tc.fn, tc.routes, r)
		}
		for name, want := range tc.status {
			h.WaitStatus(name, want)
		}
	}
	call := h.ExecAsync("switch_to", "6")
	s.answer("6*!", "In6 All")
	if r := call.Result(); string(r.Value) != `"6"` {
		t.Fatalf("switch_to 6: %s", r)
	}
	h.WaitStatus("output3", 6)
	h.WaitStatus("audio4", 6)

	// A tie made at the front panel, reported in verbose mode; also while a command runs.
	s.dev.Respond("Out3 In7 Vid\r\n")
	h.WaitStatus("output3", 7)
	call = h.ExecAsyncNamed("video_mute", map[string]any{"output": 2})
	s.dev.ShouldSend("2*1B")
	s.dev.Respond("Out4 In8 All\r\nVmt2*1\r\n")
	if r := call.Result(); string(r.Value) != "true" {
		t.Fatalf("video_mute: %s", r)
	}
	h.WaitStatus("video_mute2", true)
	h.WaitStatus("audio4", 8)
	call = h.ExecAsync("volume", 2, 40)
	s.answer("2*40V", "Out2 Vol40")
	if r := call.Result(); string(r.Value) != "40" {
		t.Fatalf("volume: %s", r)
	}
	h.WaitStatus("volume2", 40)

	// Every error answer reaches the caller with its code as the class.
	errorCases := []struct {
		fn    string
		args  map[string]any
		sent  string
		reply string
		code  int
		text  string
	}{
		{"switch", map[string]any{"map": map[string]any{"9": 1}}, "9*1!", "E01", 400, "invalid input"},
		{"switch", map[string]any{"map": map[string]any{"1": 9}}, "1*9!", "E12", 400, "invalid output"},
		{"audio_mute", map[string]any{"output": 1}, "1*1Z", "E10", 501, "does not support"},
		{"volume", map[string]any{"output": 1, "level": 64}, "1*64V", "E13", 400, "out of range"},
		{"switch_to", map[string]any{"input": "2"}, "2*!", "E22", 503, "busy"},
		{"switch_to", map[string]any{"input": "2"}, "2*!", "E17", 504, "timed out"},
		{"switch_to", map[string]any{"input": "2"}, "2*!", "E24", 403, "privilege"},
		{"switch_to", map[string]any{"input": "2"}, "2*!", "E14", 409, "configuration"},
	}
	for _, tc := range errorCases {
		call := h.ExecAsyncNamed(tc.fn, tc.args)
		s.answer(tc.sent, tc.reply)
		mustFail(t, call.Result(), tc.code, tc.reply, tc.text)
	}
	// Arguments the driver refuses before the switcher sees them.
	mustFail(t, h.ExecNamed("switch", map[string]any{"map": map[string]any{"hdmi": 1}}), 400, "Error", "not an input number")
	mustFail(t, h.ExecNamed("switch", map[string]any{"map": map[string]any{}}), 400, "Error", "ties nothing")
	mustFail(t, h.ExecNamed("switch", map[string]any{"map": map[string]any{"1": 0}}), 400, "Error", "not an output number")
	mustFail(t, h.Exec("switch_to", "laptop"), 400, "Error", "not an input number")
	if r := h.Exec("volume", 1, 65); r.Code != 400 {
		t.Fatalf("volume 65: %s", r)
	}
	s.dev.ShouldNotSend(20 * time.Millisecond)

	// A switcher that stops answering: sent again after each timeout, then 504.
	call = h.ExecAsync("switch_to", "1")
	for range 1 + sdk.DefaultRetries {
		s.dev.ShouldSend("1*!")
		clk.Advance(sdk.DefaultTimeout)
	}
	if r := call.Result(); r.Code != 504 {
		t.Fatalf("switch_to with the switcher silent: %s", r)
	}

	// The poll reads the ties again.
	clk.Advance(time.Hour)
	s.answer("I", "V8X1 A8X1")
	s.answer("1%", "2")
	s.answer("1$", "3")
	h.WaitStatus("audio1", 3)
	h.WaitStatus("output1", 2)
}

// TestPassword: the password goes after the prompt, even one split across reads, and commands
// wait for the login; on the next connection it goes again; a refused one fails the commands.
func TestPassword(t *testing.T) {
	t.Parallel()
	h, s := start(t, Settings{Password: "secret", PollSeconds: 3600})
	s.dev.Respond(banner + "\r\nPass")
	s.dev.ShouldNotSend(20 * time.Millisecond)
	s.dev.Respond("word:")
	s.dev.ShouldSend("secret\r")
	s.dev.ShouldNotSend(20 * time.Millisecond)
	s.dev.Respond("\r\nLogin Administrator\r\n")
	s.connectQuery()
	h.WaitStatus("login", "administrator")
	h.WaitStatus("output1", 1)

	mark := h.Mark()
	s.dev.Disconnect()
	h.WaitChange(mark, "connected", false)
	s.dev.ExpectReconnect()
	s.dev.Respond(banner + "\r\nPassword:")
	s.dev.ShouldSend("secret\r")
	s.dev.Respond("\r\nLogin User\r\n")
	s.connectQuery()
	h.WaitStatus("login", "user")

	s.dev.Disconnect()
	s.dev.ExpectReconnect()
	s.dev.Respond(banner + "\r\nPassword:")
	s.dev.ShouldSend("secret\r")
	s.dev.Respond("\r\nPassword:")
	h.WaitLog("handshake failed")
	mustFail(t, h.Exec("switch_to", "1"), 502, "Login", "refused the password")
	s.dev.ShouldNotSend(20 * time.Millisecond)
}

func TestPasswordMissing(t *testing.T) {
	t.Parallel()
	h, s := start(t, Settings{PollSeconds: 3600})
	// Without a password the switcher is taken to listen after its banner; a prompt after it
	// means it wants one.
	s.dev.Respond(banner)
	s.answer("\x1b3CV\r", "\r\nPassword:")
	h.WaitLog("handshake failed")
	mustFail(t, h.Exec("switch_to", "1"), 502, "Login", "set its password setting")
	s.dev.ShouldNotSend(20 * time.Millisecond)
}

// TestSilentDevice: a device that sends no banner fails calls clearly, and the driver opens a
// new connection in case the next one brings it.
func TestSilentDevice(t *testing.T) {
	t.Parallel()
	clk := sdktest.NewClock()
	h, s := start(t, Settings{PollSeconds: 3600}, sdk.WithClock(clk))
	// Two timers: the poll and the wait for the banner.
	h.Wait("the login to wait for the banner", func() bool { return clk.Pending() >= 2 })
	clk.Advance(sdk.DefaultHandshakeTimeout)
	if e := h.WaitLog("handshake failed"); !strings.Contains(e.String(), "did not open the session") {
		t.Fatalf("log: %s", e)
	}
	mustFail(t, h.Exec("switch_to", "1"), 504, "NoLogin", "no Extron banner")
	h.Wait("a new connection", func() bool {
		clk.Advance(time.Second)
		return s.dev.Connections() == 2
	})
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	m := sdktest.New(t, New, options...).Metadata()
	if !reflect.DeepEqual(m.Implements, []string{"InputSelectable"}) ||
		!reflect.DeepEqual(m.Functions.Keys(), []string{"switch", "switch_video", "switch_audio", "switch_to", "video_mute", "audio_mute", "volume", "query"}) {
		t.Fatalf("implements %v functions %v", m.Implements, m.Functions.Keys())
	}
}
