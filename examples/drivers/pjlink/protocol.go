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
// text after "=" ("OK", "1", "31"). An error answer fails it (replyError).
func (p *Projector) do(ctx context.Context, body, param string, priority int) (string, error) {
	v, err := p.Queue().Do(ctx, sdk.Command{Data: []byte("%1" + body + " " + param + "\r"), Priority: priority, Send: p.send})
	if err != nil {
		return "", err
	}
	s, _ := v.(string)
	return s, nil
}

// send writes a command once the connection's greeting allows it, prefixed with the digest
// when it is the first command of an authenticated connection.
func (p *Projector) send(ctx context.Context, t *sdk.Task) error {
	digest, err := p.link.await(ctx, p.Clock(), t.Command().Timeout)
	if se := (*sdk.Error)(nil); errors.As(err, &se) && se.Kind == "NoGreeting" {
		// Fail the command before disconnecting, which would abort it as merely offline; a
		// silent device may greet on a new connection.
		t.Fail(err)
		p.conn.Disconnect()
		return nil
	}
	if err != nil {
		return err
	}
	if p.Queue().Current() != t {
		return nil // the attempt timed out while it waited: the queue sends it again
	}
	if err := p.conn.Send(ctx, append([]byte(digest), t.Command().Data...)); err != nil {
		return err
	}
	if digest != "" {
		p.link.sent()
	}
	return nil
}

// received takes every line from the projector: greetings, and answers to the running command.
func (p *Projector) received(frame []byte, t *sdk.Task) {
	line := strings.TrimSpace(string(frame))
	if rest, ok := strings.CutPrefix(line, "PJLINK "); ok {
		p.greeting(rest, t)
		return
	}
	body, value, ok := parseAnswer(line)
	if !ok || t == nil || body != string(t.Command().Data[2:6]) {
		p.Logger().Debug("ignoring a line that answers no running command", "line", line)
		return
	}
	if err := answerError(t.Command().Data, value); err != nil {
		t.Fail(err)
		return
	}
	p.mu.Lock()
	p.refused = ""
	p.mu.Unlock()
	t.Success(value)
}

// greeting handles "PJLINK 0", "PJLINK 1 <random>" and "PJLINK ERRA" (a refused digest).
func (p *Projector) greeting(rest string, t *sdk.Task) {
	switch {
	case rest == "0":
		p.link.greeted("", nil)
	case rest == "ERRA":
		err := authError("projector refused the password (PJLINK ERRA): check the module's password setting")
		p.link.fail(err)
		var s Settings
		_ = p.Settings(&s)
		p.mu.Lock()
		p.refused = s.Password
		p.mu.Unlock()
		if t != nil {
			t.Fail(err)
		}
	case strings.HasPrefix(rest, "1 "):
		var s Settings
		_ = p.Settings(&s)
		if s.Password == "" {
			p.link.greeted("", authError("projector asks for a password (PJLINK 1) and the module has none: set its password setting"))
			return
		}
		sum := md5.Sum([]byte(strings.TrimSpace(rest[2:]) + s.Password)) //nolint:gosec // by specification
		p.link.greeted(hex.EncodeToString(sum[:]), nil)
	default:
		p.Logger().Warn("unexpected PJLink greeting", "line", "PJLINK "+rest)
	}
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
// a 400, a projector that is busy warming up or cooling down a 503 to try again later.
func answerError(sent []byte, value string) error {
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
	return &sdk.Error{Status: status, Kind: value, Err: fmt.Errorf("%s: %s", strings.TrimSpace(string(sent)), why)}
}
