package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// prompt is the password prompt, the one thing the switcher sends without a line end.
const prompt = "Password:"

// verboseMode asks for verbose mode 3: the switcher then reports ties made at its front panel.
const verboseMode = "\x1b3CV\r"

// kind is what a line from the switcher says.
type kind int

const (
	other     kind = iota
	tieOne         // Out2 In1 All: input 1 on output 2
	tieAll         // In1 All: input 1 on every output
	volume         // Out2 Vol40
	audioMute      // Amt2*1
	videoMute      // Vmt2*1
	info           // V8X4 A8X4: 8 inputs, 4 outputs
	verbose        // Vrb3
	quick          // Qik: a quick multiple tie is done
	number         // 3: the answer to a read
	failure        // E13
)

// reply is one line from the switcher, parsed.
type reply struct {
	kind    kind
	out, in int    // the output and input; the answer of a read is in; info: outputs and inputs
	value   int    // volume, mute (1 or 0)
	layer   string // All, Vid, RGB or Aud
	code    string // E13
}

// Extron pads numbers to two or three digits on some models ("Out02 In01 All") and separates
// fields with a space or nothing ("Out01Vol50"); both parse.
var patterns = []struct {
	kind kind
	re   *regexp.Regexp
}{
	{tieOne, regexp.MustCompile(`^Out(\d+) ?In(\d+) ?(All|Vid|RGB|Aud)$`)},
	{tieAll, regexp.MustCompile(`^In(\d+) ?(All|Vid|RGB|Aud)$`)},
	{volume, regexp.MustCompile(`^Out(\d+) ?Vol(\d+)$`)},
	{audioMute, regexp.MustCompile(`^Amt(\d+)\*([01])$`)},
	{videoMute, regexp.MustCompile(`^Vmt(\d+)\*([01])$`)},
	{info, regexp.MustCompile(`^V(\d+)X(\d+) A\d+X\d+`)},
	{verbose, regexp.MustCompile(`^Vrb(\d)$`)},
	{quick, regexp.MustCompile(`^Qik$`)},
	{number, regexp.MustCompile(`^(\d+)$`)},
	{failure, regexp.MustCompile(`^(E\d\d)$`)},
}

func parse(line string) reply {
	for _, p := range patterns {
		m := p.re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		r := reply{kind: p.kind}
		switch p.kind {
		case tieOne:
			r.out, r.in, r.layer = atoi(m[1]), atoi(m[2]), m[3]
		case tieAll:
			r.in, r.layer = atoi(m[1]), m[2]
		case volume, audioMute, videoMute:
			r.out, r.value = atoi(m[1]), atoi(m[2])
		case info:
			r.in, r.out = atoi(m[1]), atoi(m[2])
		case number:
			r.in = atoi(m[1])
		case failure:
			r.code = m[1]
		}
		return r
	}
	return reply{}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func layerName(symbol byte) string {
	switch symbol {
	case '%':
		return "Vid"
	case '$':
		return "Aud"
	}
	return "All"
}

// do sends one SIS command through the queue and returns the line that answers it, the first
// that want accepts; an E-code answer fails it (sisError).
func (x *Switcher) do(ctx context.Context, cmd string, priority int, want func(reply) bool) (reply, error) {
	v, err := x.Queue().Do(ctx, sdk.Command{Data: []byte(cmd), Priority: priority,
		Response: func(frame []byte, t *sdk.Task) { x.handle(frame, t, want) }})
	if err != nil {
		return reply{}, err
	}
	r, _ := v.(reply)
	return r, nil
}

// received takes the lines no command waits for: front-panel changes.
func (x *Switcher) received(frame []byte, t *sdk.Task) { x.handle(frame, t, nil) }

// handle takes one line: statuses, and the running command's answer.
func (x *Switcher) handle(frame []byte, t *sdk.Task, want func(reply) bool) {
	line := strings.TrimSpace(string(frame))
	if line == "" {
		return
	}
	r := parse(line)
	if r.kind == failure {
		if t != nil {
			t.Fail(sisError(r.code, t.Command().Data))
		} else {
			x.Logger().Warn("switcher reported an error", "code", r.code)
		}
		return
	}
	x.apply(r)
	if t != nil && want != nil && want(r) {
		t.Success(r)
	} else if r.kind == other {
		x.Logger().Debug("ignoring a line from the switcher", "line", line)
	}
}

// bannerRe is the copyright line a connection opens with:
// "(c) Copyright 2025, Extron Electronics, DXP 84 HDMI, V1.02, 60-1094-01".
var bannerRe = regexp.MustCompile(`^\(c\) Copyright \d+, Extron Electronics, ([^,]+), V([^,]+)`)

// login opens the session of a new connection: the switcher sends its banner, then asks for
// the password when it has one (it would take any command sent before as a wrong password) and
// answers "Login Administrator" (or "Login User"), or asks again when it refuses it. Verbose
// mode is set last; its answer means the switcher takes commands.
func (x *Switcher) login(ctx context.Context, h *sdk.Handshake) error {
	var s Settings
	if err := x.Settings(&s); err != nil {
		return err
	}
	passwordSent := false
	for {
		frame, err := h.Next(ctx)
		if errors.Is(err, sdk.ErrHandshakeTimeout) {
			return &sdk.Error{Status: 504, Kind: "NoLogin", Err: fmt.Errorf("the switcher did not open the session within %s: "+
				"no Extron banner, or no Password: prompt while the module has a password", sdk.DefaultHandshakeTimeout)}
		}
		if err != nil {
			return err
		}
		line := strings.TrimSpace(string(frame))
		var send string
		switch m := bannerRe.FindStringSubmatch(line); {
		case m != nil:
			x.Set("model", m[1])
			x.Set("firmware", m[2])
			if s.Password == "" {
				send = verboseMode // no password to give: the switcher listens now
			}
		case line == prompt && s.Password == "":
			return loginError("the switcher asks for a password and the module has none: set its password setting")
		case line == prompt && passwordSent:
			return loginError("the switcher refused the password: check the module's password setting")
		case line == prompt:
			send, passwordSent = s.Password+"\r", true
		case strings.HasPrefix(line, "Login "):
			x.Set("login", strings.ToLower(strings.TrimPrefix(line, "Login ")))
			send = verboseMode
		default:
			switch r := parse(line); r.kind {
			case verbose:
				return nil
			case failure:
				return sisError(r.code, []byte(verboseMode))
			}
		}
		if send != "" {
			if err := h.Send(ctx, []byte(send)); err != nil {
				return err
			}
		}
	}
}

func loginError(msg string) error {
	return &sdk.Error{Status: 502, Kind: "Login", Err: errors.New(msg)}
}

// sisErrors are SIS's error answers: the code and what the caller is told.
var sisErrors = map[string]struct {
	status int
	why    string
}{
	"E01": {400, "invalid input number"},
	"E10": {501, "invalid command: this switcher does not support it"},
	"E11": {400, "invalid preset number"},
	"E12": {400, "invalid output number"},
	"E13": {400, "invalid value (out of range)"},
	"E14": {409, "not valid for this switcher's configuration"},
	"E17": {504, "the switcher timed out; try again"},
	"E22": {503, "the switcher is busy; try again"},
	"E24": {403, "privilege violation: the module is logged in as a user, not an administrator"},
	"E25": {502, "device not present"},
}

// sisError turns an E-code answer into the error the caller gets, with the code as its class.
func sisError(code string, sent []byte) error {
	e, ok := sisErrors[code]
	if !ok {
		e.status, e.why = 502, "error "+code
	}
	cmd := strings.ReplaceAll(strings.TrimSpace(string(sent)), "\x1b", "Esc")
	err := &sdk.Error{Status: e.status, Kind: code, Err: fmt.Errorf("switcher answered %s to %q: %s", code, cmd, e.why)}
	if code == "E22" {
		err.RetryAfter = time.Second // busy is brief
	}
	return err
}

// apply sets the statuses a line reports.
func (x *Switcher) apply(r reply) {
	switch r.kind {
	case tieOne:
		x.applyTie(r.out, r.in, r.layer)
	case tieAll:
		var n int
		x.Status("outputs", &n)
		for out := 1; out <= n; out++ {
			x.applyTie(out, r.in, r.layer)
		}
	case volume:
		x.Set(fmt.Sprintf("volume%d", r.out), r.value)
	case audioMute:
		x.Set(fmt.Sprintf("audio_mute%d", r.out), r.value == 1)
	case videoMute:
		x.Set(fmt.Sprintf("video_mute%d", r.out), r.value == 1)
	case info:
		x.Set("inputs", r.in)
		x.Set("outputs", r.out)
	}
}

// applyTie sets output<N> (the picture) and audio<N> as a tie on layer changes them.
func (x *Switcher) applyTie(out, in int, layer string) {
	if layer != "Aud" {
		x.Set(fmt.Sprintf("output%d", out), in)
	}
	if layer == "All" || layer == "Aud" {
		x.Set(fmt.Sprintf("audio%d", out), in)
	}
}
