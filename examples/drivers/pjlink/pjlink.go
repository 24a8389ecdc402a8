package main

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// Settings of a PJLink module.
type Settings struct {
	// Password is the projector's PJLink password. Keep it in the module's protected_settings
	// (level admin or never_displayed) so no caller reads it back.
	Password string `json:"password,omitempty" secret:"true" description:"PJLink password, empty when the projector's authentication is off"`
	// PollSeconds: PJLink sends nothing by itself, and projectors close a connection that is
	// idle for 30 s, so the poll also keeps the connection open.
	PollSeconds int `json:"poll_seconds,omitempty" default:"20" minimum:"1" description:"how often power, input, mute, errors and lamp are read, in seconds"`
	// Inputs names input codes as the room knows them; PJLink's own names work without it.
	Inputs map[string]string `json:"inputs,omitempty" description:"names for PJLink input codes, e.g. {\"hdmi1\": \"32\"}"`
}

// Projector drives one PJLink class 1 projector (JBMIA PJLink specification 1.04), e.g.
// examples/sims/pjlink. Statuses: power, warming, cooling, input, mute, video_mute,
// audio_mute, lamp_hours, lamps, errors, name, manufacturer, model, pjlink_class, inputs and
// connected.
type Projector struct {
	sdk.Base

	mu     sync.Mutex
	follow *sdk.Job // the poll that follows a warm-up or cool-down
}

// New makes the driver value of one module.
func New() *Projector { return &Projector{} }

// options are the driver's Serve options; the tests use the same.
var options = []sdk.Option{sdk.Version("1.0.0"), sdk.SettingsType[Settings]()}

// Priorities: power first, then what a user asked for, then the background poll.
const (
	priorityPower = 80
	priorityPoll  = 20
)

// followEvery is how often power is read while the projector warms up or cools down, so the
// statuses show "on" or "off" soon after the projector gets there, not at the next poll.
const followEvery = 5 * time.Second

// OnLoad connects to the projector (port 4352), logs in on every connection and polls it.
func (p *Projector) OnLoad(context.Context) error {
	var s Settings
	if err := p.Settings(&s); err != nil {
		return err
	}
	sdk.NewTCP(&p.Base, sdk.TCPOptions{DefaultPort: 4352, Tokenizer: sdk.Delimiter("\r"), Handshake: p.handshake,
		Received: p.received, OnConnect: p.connected})
	p.schedulePoll(s)
	return nil
}

// OnUpdate applies a new poll interval. A new password is used from the next connection.
func (p *Projector) OnUpdate(context.Context) error {
	var s Settings
	if err := p.Settings(&s); err != nil {
		return err
	}
	p.Schedule().Clear()
	p.schedulePoll(s)
	return nil
}

func (p *Projector) schedulePoll(s Settings) {
	p.Schedule().Every(time.Duration(s.PollSeconds)*time.Second, func(ctx context.Context) { _ = p.poll(ctx) })
}

// Power turns the projector on or off and returns the state asked for; the projector then
// warms up or cools down, which the warming and cooling statuses show.
func (p *Projector) Power(ctx context.Context, a sdk.PowerArgs) (bool, error) {
	param := "0"
	if a.State {
		param = "1"
	}
	if _, err := p.do(ctx, "POWR", param, priorityPower); err != nil {
		return false, err
	}
	if v, err := p.do(ctx, "POWR", "?", priorityPower); err == nil {
		p.applyPower(v)
	}
	return a.State, nil
}

// SwitchTo selects an input by PJLink name (rgb1, video2, digital1, storage1, network1), by
// code (11-59) or by a name from the inputs setting, and returns its name.
func (p *Projector) SwitchTo(ctx context.Context, a sdk.SwitchToArgs) (string, error) {
	names, err := p.inputNames()
	if err != nil {
		return "", err
	}
	code, err := inputCode(a.Input, names)
	if err != nil {
		return "", err
	}
	if _, err := p.do(ctx, "INPT", code, 0); err != nil {
		return "", err
	}
	name := inputName(code, names)
	p.Set("input", name)
	return name, nil
}

// Mute mutes or unmutes picture and sound together (AVMT 31/30).
func (p *Projector) Mute(ctx context.Context, a sdk.MuteArgs) (bool, error) {
	return a.State, p.mute(ctx, true, true, a.State)
}

// VideoMute blanks or shows the picture (AVMT 11/10).
func (p *Projector) VideoMute(ctx context.Context, a sdk.MuteArgs) (bool, error) {
	return a.State, p.mute(ctx, true, false, a.State)
}

// AudioMute mutes or unmutes the sound (AVMT 21/20).
func (p *Projector) AudioMute(ctx context.Context, a sdk.MuteArgs) (bool, error) {
	return a.State, p.mute(ctx, false, true, a.State)
}

// Query reads everything the projector reports: the polled state and its identity.
func (p *Projector) Query(ctx context.Context) error {
	return errors.Join(p.poll(ctx), p.identify(ctx))
}

func (p *Projector) mute(ctx context.Context, video, audio, on bool) error {
	param := muteParam(video, audio, on)
	if _, err := p.do(ctx, "AVMT", param, 0); err != nil {
		return err
	}
	var v, a bool
	p.Status("video_mute", &v)
	p.Status("audio_mute", &a)
	if video {
		v = on
	}
	if audio {
		a = on
	}
	p.setMutes(v, a)
	return nil
}

// connected reads the whole state once the projector has accepted the new connection.
func (p *Projector) connected(ctx context.Context, _ *sdk.TCP) {
	if err := p.Query(ctx); err != nil {
		p.Logger().Warn("projector state query failed", "error", err)
	}
}

// poll reads power, then input and mute when the projector is on (it answers ERR3 otherwise),
// errors and lamp.
func (p *Projector) poll(ctx context.Context) error {
	v, err := p.do(ctx, "POWR", "?", priorityPoll)
	if err != nil {
		return err
	}
	queries := []reader{{"ERST", p.applyErrors}, {"LAMP", p.applyLamps}}
	if p.applyPower(v) {
		queries = append([]reader{{"INPT", p.applyInput}, {"AVMT", p.applyMute}}, queries...)
	}
	return p.read(ctx, queries)
}

// identify reads what does not change while connected: name, maker, model, inputs (the class
// comes with the handshake).
func (p *Projector) identify(ctx context.Context) error {
	return p.read(ctx, []reader{
		{"NAME", func(v string) { p.Set("name", v) }},
		{"INF1", func(v string) { p.Set("manufacturer", v) }},
		{"INF2", func(v string) { p.Set("model", v) }},
		{"INST", p.applyInputList},
	})
}

// reader is a query and what applies its answer.
type reader struct {
	body  string
	apply func(value string)
}

func (p *Projector) read(ctx context.Context, queries []reader) error {
	var errs []error
	for _, q := range queries {
		v, err := p.do(ctx, q.body, "?", priorityPoll)
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, sdk.ErrOffline) {
				break // the rest would fail the same way
			}
			continue
		}
		q.apply(v)
	}
	return errors.Join(errs...)
}

// followUp polls again soon while the projector warms up or cools down.
func (p *Projector) followUp() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.follow != nil && !p.follow.Next().IsZero() {
		return
	}
	p.follow = p.Schedule().In(followEvery, func(ctx context.Context) { _ = p.poll(ctx) })
}

// inputNames is the inputs setting, names lower-cased.
func (p *Projector) inputNames() (map[string]string, error) {
	var s Settings
	if err := p.Settings(&s); err != nil {
		return nil, err
	}
	names := make(map[string]string, len(s.Inputs))
	for name, code := range s.Inputs {
		names[strings.ToLower(name)] = code
	}
	return names, nil
}

// inputTypes are PJLink's input kinds, by the first digit of a code.
var inputTypes = []string{1: "rgb", 2: "video", 3: "digital", 4: "storage", 5: "network"}

// inputCode resolves an input name or code to a PJLink code ("31").
func inputCode(input string, names map[string]string) (string, error) {
	in := strings.ToLower(strings.TrimSpace(input))
	if code, ok := names[in]; ok {
		in = code
	}
	for typ, prefix := range inputTypes {
		if rest, ok := strings.CutPrefix(in, prefix); ok && prefix != "" && len(rest) == 1 {
			in = strconv.Itoa(typ) + rest
		}
	}
	if n, err := strconv.Atoi(in); err == nil && len(in) == 2 && n/10 >= 1 && n/10 <= 5 && n%10 >= 1 {
		return in, nil
	}
	return "", sdk.Errorf(400, "unknown input %q\nuse a PJLink name (rgb1, video1, digital1, storage1 or network1, up to 9), a code from 11 to 59, or a name from the inputs setting", input)
}

// inputName names a code: the inputs setting's name for it, else PJLink's ("digital1").
func inputName(code string, names map[string]string) string {
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if names[name] == code {
			return name
		}
	}
	if len(code) == 2 && code[0] >= '1' && code[0] <= '5' {
		return inputTypes[code[0]-'0'] + code[1:]
	}
	return code
}

func muteParam(video, audio, on bool) string {
	which := "3"
	switch {
	case video && !audio:
		which = "1"
	case audio && !video:
		which = "2"
	}
	if on {
		return which + "1"
	}
	return which + "0"
}
