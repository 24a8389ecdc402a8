package main

import (
	"context"
	"crypto/md5" //nolint:gosec // PJLink's authentication is MD5 by specification
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/placeos-go/engine/sdk"
)

// do sends one command ("%1POWR 1") through the queue and returns the projector's answer, the
// text after "=" ("OK", "1", "31"). An error answer fails it (answerError).
func (p *Projector) do(ctx context.Context, body, param string, priority int) (string, error) {
	v, err := p.Queue().Do(ctx, sdk.Command{Data: []byte("%1" + body + " " + param + "\r"), Priority: priority})
	if err != nil {
		return "", err
	}
	s, _ := v.(string)
	return s, nil
}

// handshake follows the start of a connection. The projector greets first: "PJLINK 0", or
// "PJLINK 1 <random>" when it wants a password. The first command then proves the password
// (the digest goes in front of it); the driver makes it a class query, which every PJLink
// projector answers, so the connection is known to work before any command goes out.
func (p *Projector) handshake(ctx context.Context, h *sdk.Handshake) error {
	line, err := h.Next(ctx)
	if errors.Is(err, sdk.ErrHandshakeTimeout) {
		return &sdk.Error{Status: 504, Kind: "NoGreeting",
			Err: fmt.Errorf("projector sent no PJLink greeting within %s; is this a PJLink projector (port 4352)?", sdk.DefaultHandshakeTimeout)}
	}
	if err != nil {
		return err
	}
	var digest string
	switch greeting := strings.TrimSpace(string(line)); {
	case greeting == "PJLINK 0":
	case strings.HasPrefix(greeting, "PJLINK 1 "):
		var s Settings
		if err := p.Settings(&s); err != nil {
			return err
		}
		if s.Password == "" {
			return authError("projector asks for a password (PJLINK 1) and the module has none: set its password setting")
		}
		sum := md5.Sum([]byte(strings.TrimPrefix(greeting, "PJLINK 1 ") + s.Password)) //nolint:gosec // by specification
		digest = hex.EncodeToString(sum[:])
	default:
		return &sdk.Error{Status: 502, Kind: "NoGreeting", Err: fmt.Errorf("not a PJLink greeting: %q", greeting)}
	}
	if err := h.Send(ctx, []byte(digest+"%1CLSS ?\r")); err != nil {
		return err
	}
	for {
		line, err := h.Next(ctx)
		if err != nil {
			return err
		}
		switch answer := strings.TrimSpace(string(line)); {
		case answer == "PJLINK ERRA":
			return authError("projector refused the password (PJLINK ERRA): check the module's password setting")
		case strings.HasPrefix(answer, "%1CLSS="):
			p.Set("pjlink_class", strings.TrimPrefix(answer, "%1CLSS="))
			return nil
		}
	}
}

// received takes every line from the projector: the answers to the running command.
func (p *Projector) received(frame []byte, t *sdk.Task) {
	line := strings.TrimSpace(string(frame))
	body, value, ok := parseAnswer(line)
	if !ok || t == nil || body != string(t.Command().Data[2:6]) {
		p.Logger().Debug("ignoring a line that answers no running command", "line", line)
		return
	}
	var warming, cooling bool
	p.Status("warming", &warming)
	p.Status("cooling", &cooling)
	if err := answerError(t.Command().Data, value, warming || cooling); err != nil {
		t.Fail(err)
		return
	}
	t.Success(value)
}

func authError(msg string) error {
	return &sdk.Error{Status: 502, Kind: "ERRA", Err: errors.New(msg)}
}

// parseAnswer splits "%1POWR=OK" into POWR and OK.
func parseAnswer(line string) (body, value string, ok bool) {
	if len(line) < 7 || line[0] != '%' || line[6] != '=' {
		return "", "", false
	}
	return line[2:6], line[7:], true
}

// answerError turns PJLink's error answers into the error the caller gets: a bad argument is
// a 400, a projector that is busy warming up or cooling down (changing) a 503 to try again when
// the driver reads its power again (Retry-After).
func answerError(sent []byte, value string, changing bool) error {
	var status int
	var why string
	switch value {
	case "ERR1":
		status, why = 501, "the projector does not support this command (ERR1: undefined command)"
	case "ERR2":
		status, why = 400, "parameter out of range for this projector (ERR2)"
	case "ERR3":
		status, why = 503, "the projector cannot do this now (ERR3: unavailable time, e.g. warming up, cooling down or in standby); try again later"
	case "ERR4":
		status, why = 502, "projector failure (ERR4); the errors status says which part"
	default:
		return nil
	}
	e := &sdk.Error{Status: status, Kind: value, Err: fmt.Errorf("%s: %s", strings.TrimSpace(string(sent)), why)}
	if value == "ERR3" && changing {
		e.RetryAfter = followEvery
	}
	return e
}
