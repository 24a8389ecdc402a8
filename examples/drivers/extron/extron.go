package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// Settings of an Extron module.
type Settings struct {
	// Password is the switcher's administrator (or user) password. Keep it in the module's
	// protected_settings (level admin or never_displayed) so no caller reads it back.
	Password string `json:"password,omitempty" secret:"true" description:"the switcher's password, empty when it asks none"`
	// PollSeconds: in verbose mode the switcher reports front-panel ties itself; the poll reads
	// them again in case one was missed, and keeps the telnet session from timing out.
	PollSeconds int `json:"poll_seconds,omitempty" default:"60" minimum:"1" description:"how often the ties are read again, in seconds"`
}

// Switcher drives one Extron matrix switcher over SIS (telnet, port 23), e.g.
// examples/sims/extron. Statuses: output<N> (the input on output N's video, 0 for none),
// audio<N> (the input on its audio), volume<N>, audio_mute<N>, video_mute<N>, inputs and
// outputs (the matrix size), model, firmware, login and connected.
type Switcher struct {
	sdk.Base
}

// New makes the driver value of one module.
func New() *Switcher { return &Switcher{} }

// options are the driver's Serve options; the tests use the same.
var options = []sdk.Option{sdk.Version("1.0.0"), sdk.SettingsType[Settings]()}

// priorityPoll puts the background reads behind what a user asked for.
const priorityPoll = 20

// OnLoad connects to the switcher (telnet, port 23), logs in on every connection, and polls it.
func (x *Switcher) OnLoad(context.Context) error {
	var s Settings
	if err := x.Settings(&s); err != nil {
		return err
	}
	sdk.NewTCP(&x.Base, sdk.TCPOptions{DefaultPort: 23, Tokenizer: sdk.Delimiter("\r\n").Also(prompt),
		Handshake: x.login, Received: x.received, OnConnect: x.connected})
	x.schedulePoll(s)
	return nil
}

// OnUpdate applies a new poll interval. A new password is used from the next connection.
func (x *Switcher) OnUpdate(context.Context) error {
	var s Settings
	if err := x.Settings(&s); err != nil {
		return err
	}
	x.Schedule().Clear()
	x.schedulePoll(s)
	return nil
}

func (x *Switcher) schedulePoll(s Settings) {
	x.Schedule().Every(time.Duration(s.PollSeconds)*time.Second, func(ctx context.Context) { _ = x.readTies(ctx) })
}

// Outputs are the outputs an input goes to: a list, or one number.
type Outputs []int

// UnmarshalJSON takes [2, 3] or 2.
func (o *Outputs) UnmarshalJSON(b []byte) error {
	var one int
	if json.Unmarshal(b, &one) == nil {
		*o = Outputs{one}
		return nil
	}
	return json.Unmarshal(b, (*[]int)(o))
}

// SwitchArgs are the parameters of switch, switch_video and switch_audio.
type SwitchArgs struct {
	Map map[string]Outputs `json:"map" description:"input number to the outputs it goes to, e.g. {\"1\": [2, 3], \"4\": 1}; input 0 clears the outputs"`
}

// Switch ties inputs to outputs, picture and sound. Several ties go in one quick multiple
// tie, which the switcher makes all at once.
func (x *Switcher) Switch(ctx context.Context, a SwitchArgs) error { return x.route(ctx, a.Map, '!') }

// SwitchVideo ties the picture only (audio breakaway).
func (x *Switcher) SwitchVideo(ctx context.Context, a SwitchArgs) error {
	return x.route(ctx, a.Map, '%')
}

// SwitchAudio ties the sound only (audio breakaway).
func (x *Switcher) SwitchAudio(ctx context.Context, a SwitchArgs) error {
	return x.route(ctx, a.Map, '$')
}

// SwitchTo ties an input (its number, e.g. "3") to every output, picture and sound, and
// returns it.
func (x *Switcher) SwitchTo(ctx context.Context, a sdk.SwitchToArgs) (string, error) {
	in, err := strconv.Atoi(strings.TrimSpace(a.Input))
	if err != nil || in < 0 {
		return "", sdk.Errorf(400, "input %q is not an input number", a.Input)
	}
	if _, err := x.do(ctx, fmt.Sprintf("%d*!", in), 0, func(r reply) bool { return r.kind == tieAll && r.in == in }); err != nil {
		return "", err
	}
	return strconv.Itoa(in), nil
}

// OutputMuteArgs name an output and whether to mute it.
type OutputMuteArgs struct {
	Output int  `json:"output" minimum:"1" description:"output number"`
	State  bool `json:"state" default:"true" description:"true to mute"`
}

// VideoMute blanks or shows one output's picture.
func (x *Switcher) VideoMute(ctx context.Context, a OutputMuteArgs) (bool, error) {
	return a.State, x.mute(ctx, a, 'B', videoMute)
}

// AudioMute mutes or unmutes one output's sound, on switchers with audio.
func (x *Switcher) AudioMute(ctx context.Context, a OutputMuteArgs) (bool, error) {
	return a.State, x.mute(ctx, a, 'Z', audioMute)
}

// OutputVolumeArgs name an output and its level.
type OutputVolumeArgs struct {
	Output int `json:"output" minimum:"1" description:"output number"`
	Level  int `json:"level" minimum:"0" maximum:"64" description:"volume step, 0 (quietest) to 64 (loudest)"`
}

// Volume sets one output's volume, on switchers with audio, and returns it.
func (x *Switcher) Volume(ctx context.Context, a OutputVolumeArgs) (int, error) {
	cmd := fmt.Sprintf("%d*%dV", a.Output, a.Level)
	if _, err := x.do(ctx, cmd, 0, func(r reply) bool { return r.kind == volume && r.out == a.Output }); err != nil {
		return 0, err
	}
	return a.Level, nil
}

// Query reads the matrix size and every tie again.
func (x *Switcher) Query(ctx context.Context) error { return x.readTies(ctx) }

// tie is one input to one output.
type tie struct{ in, out int }

// route makes the ties of a switch map on a layer ('!' all, '%' video, '$' audio).
func (x *Switcher) route(ctx context.Context, m map[string]Outputs, layer byte) error {
	var ties []tie
	for key, outs := range m {
		in, err := strconv.Atoi(key)
		if err != nil || in < 0 {
			return sdk.Errorf(400, "map key %q is not an input number", key)
		}
		for _, out := range outs {
			if out < 1 {
				return sdk.Errorf(400, "output %d of input %d is not an output number", out, in)
			}
			ties = append(ties, tie{in, out})
		}
	}
	if len(ties) == 0 {
		return sdk.Errorf(400, "the map ties nothing: give it as {\"input\": [outputs]}")
	}
	slices.SortFunc(ties, func(a, b tie) int { return cmp.Or(a.out-b.out, a.in-b.in) }) // one order for one map
	if len(ties) == 1 {
		t := ties[0]
		_, err := x.do(ctx, fmt.Sprintf("%d*%d%c", t.in, t.out, layer), 0, func(r reply) bool {
			return r.kind == tieOne && r.out == t.out && r.in == t.in
		})
		return err
	}
	var cmd strings.Builder
	cmd.WriteString("\x1b+Q")
	for _, t := range ties {
		fmt.Fprintf(&cmd, "%d*%d%c", t.in, t.out, layer)
	}
	cmd.WriteString("\r")
	if _, err := x.do(ctx, cmd.String(), 0, func(r reply) bool { return r.kind == quick }); err != nil {
		return err
	}
	// "Qik" names no tie: the statuses come from the map.
	for _, t := range ties {
		x.applyTie(t.out, t.in, layerName(layer))
	}
	return nil
}

func (x *Switcher) mute(ctx context.Context, a OutputMuteArgs, letter byte, kind kind) error {
	state := 0
	if a.State {
		state = 1
	}
	_, err := x.do(ctx, fmt.Sprintf("%d*%d%c", a.Output, state, letter), 0, func(r reply) bool {
		return r.kind == kind && r.out == a.Output
	})
	return err
}

// connected reads the matrix once the session is open.
func (x *Switcher) connected(ctx context.Context, _ *sdk.TCP) {
	if err := x.readTies(ctx); err != nil {
		x.Logger().Warn("switcher state query failed", "error", err)
	}
}

// readTies reads the matrix size, then the video and audio input of every output.
func (x *Switcher) readTies(ctx context.Context) error {
	r, err := x.do(ctx, "I", priorityPoll, func(r reply) bool { return r.kind == info })
	if err != nil {
		return err
	}
	var errs []error
	for out := 1; out <= r.out; out++ {
		for _, layer := range []byte{'%', '$'} {
			v, err := x.do(ctx, fmt.Sprintf("%d%c", out, layer), priorityPoll, func(r reply) bool { return r.kind == number })
			if err == nil {
				x.applyTie(out, v.in, layerName(layer))
				continue
			}
			errs = append(errs, err)
			if errors.Is(err, sdk.ErrOffline) {
				return errors.Join(errs...) // the rest would fail the same way
			}
		}
	}
	return errors.Join(errs...)
}
