package main

import (
	"strconv"
	"strings"
)

// applyPower sets power, warming and cooling from a POWR answer and reports whether the
// projector is on. While it warms up or cools down it is polled more often (followUp).
func (p *Projector) applyPower(v string) bool {
	switch v {
	case "0", "1", "2", "3":
	default:
		p.Logger().Warn("unexpected power state", "value", v)
		return false
	}
	warming, cooling := v == "3", v == "2"
	// power is where the projector is going: true from the moment it warms up.
	p.Set("power", v == "1" || warming)
	p.Set("warming", warming)
	p.Set("cooling", cooling)
	if warming || cooling {
		p.followUp()
	}
	return v == "1"
}

func (p *Projector) applyInput(code string) {
	names, err := p.inputNames()
	if err != nil {
		p.Logger().Warn("inputs setting", "error", err)
	}
	p.Set("input", inputName(code, names))
}

// applyMute reads an AVMT answer: 11 picture muted, 21 sound muted, 31 both, 30 neither.
func (p *Projector) applyMute(v string) {
	if len(v) != 2 {
		p.Logger().Warn("unexpected mute state", "value", v)
		return
	}
	on := v[1] == '1'
	p.setMutes(on && (v[0] == '1' || v[0] == '3'), on && (v[0] == '2' || v[0] == '3'))
}

func (p *Projector) setMutes(video, audio bool) {
	p.Set("video_mute", video)
	p.Set("audio_mute", audio)
	p.Set("mute", video && audio)
}

// errorParts are the six digits of an ERST answer, in order.
var errorParts = []string{"fan", "lamp", "temperature", "cover", "filter", "other"}

// applyErrors sets errors: each part "ok", "warning" or "error".
func (p *Projector) applyErrors(v string) {
	if len(v) != len(errorParts) {
		p.Logger().Warn("unexpected error status", "value", v)
		return
	}
	errs := make(map[string]string, len(errorParts))
	for i, part := range errorParts {
		switch v[i] {
		case '0':
			errs[part] = "ok"
		case '1':
			errs[part] = "warning"
		default:
			errs[part] = "error"
		}
	}
	p.Set("errors", errs)
}

// Lamp is one lamp in the lamps status.
type Lamp struct {
	Hours int  `json:"hours"`
	On    bool `json:"on"`
}

// applyLamps reads a LAMP answer, "hours lit" for each lamp: lamps, and lamp_hours of the first.
func (p *Projector) applyLamps(v string) {
	f := strings.Fields(v)
	if len(f) == 0 || len(f)%2 != 0 {
		p.Logger().Warn("unexpected lamp status", "value", v)
		return
	}
	lamps := make([]Lamp, 0, len(f)/2)
	for i := 0; i < len(f); i += 2 {
		h, err := strconv.Atoi(f[i])
		if err != nil {
			p.Logger().Warn("unexpected lamp hours", "value", v)
			return
		}
		lamps = append(lamps, Lamp{Hours: h, On: f[i+1] == "1"})
	}
	p.Set("lamps", lamps)
	p.Set("lamp_hours", lamps[0].Hours)
}

// applyInputList sets inputs, the projector's inputs by name.
func (p *Projector) applyInputList(v string) {
	names, err := p.inputNames()
	if err != nil {
		p.Logger().Warn("inputs setting", "error", err)
	}
	codes := strings.Fields(v)
	list := make([]string, len(codes))
	for i, code := range codes {
		list[i] = inputName(code, names)
	}
	p.Set("inputs", list)
}
