package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
)

// A driver's words can quote a protected setting ("login refused for <password>"), and they reach
// callers who may not read it: a failed start's error is shown in module reads, in the node's
// status and in the 503 of a call to the module; an execute's error message and backtrace go to
// its caller, who may be a user. So every text the core takes from a driver about a module is
// scrubbed of that module's protected values (model.Scrub) before anything keeps or shows it, and
// the supervisor has the driver's log and debug lines scrubbed through Core.Scrub
// (docs/protocol.md §2.7). A function's result is the driver's answer and is not touched.
//
// An execute's error is not scrubbed of a value its own arguments hold (callersOwn): drivers
// quote bad input ("input \"x\" is not one of …"), and hiding a value only when the caller guessed
// it right would tell the caller which guess was right — one call carrying a million PINs
// would find the PIN. A value the caller sent is no secret from the caller.

// scrub is err with the module's secrets hidden in its text; err itself when its text holds
// none. The scrubbed error is still of err's kinds (errors.Is), and a driver error in it is still
// found (errors.As), scrubbed too; nothing unwraps to the text that held the secret.
func scrub(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	text := err.Error()
	clean := model.Scrub(text, secrets)
	if clean == text {
		return err
	}
	return &scrubbedError{msg: clean, err: err, secrets: secrets}
}

type scrubbedError struct {
	msg     string
	err     error
	secrets []string
}

func (e *scrubbedError) Error() string        { return e.msg }
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.err, target) }
func (e *scrubbedError) As(target any) bool {
	p, ok := target.(**errkind.DriverError)
	var de *errkind.DriverError
	if !ok || !errors.As(e.err, &de) {
		return false
	}
	*p = scrubDriverError(de, e.secrets)
	return true
}

// scrubDriverError is de with the secrets hidden in its message and backtrace.
func scrubDriverError(de *errkind.DriverError, secrets []string) *errkind.DriverError {
	out := *de
	out.Message = model.Scrub(de.Message, secrets)
	if de.Backtrace != nil {
		out.Backtrace = make([]string, len(de.Backtrace))
		for i, line := range de.Backtrace {
			out.Backtrace[i] = model.Scrub(line, secrets)
		}
	}
	return &out
}

// callersOwn is secrets without the values the call's arguments hold: found, case-insensitively,
// in the arguments' JSON text, in any string, key or number they decode to (a number also as Go
// prints it: a driver may normalise 4.82913e5 to 482913), or in a string's JSON-escaped form
// (secrets lists those forms too). It runs only when a driver failed a call of a module with
// protected values.
func callersOwn(secrets []string, args json.RawMessage) []string {
	if len(secrets) == 0 || len(args) == 0 {
		return secrets
	}
	texts := argTexts(args)
	out := make([]string, 0, len(secrets))
	for _, s := range secrets {
		ls := strings.ToLower(s)
		if !slices.ContainsFunc(texts, func(t string) bool { return strings.Contains(t, ls) }) {
			out = append(out, s)
		}
	}
	return out
}

// argTexts is every text a driver may quote from args, lower-cased.
func argTexts(args json.RawMessage) []string {
	texts := []string{strings.ToLower(string(args))}
	add := func(s string) {
		s = strings.ToLower(s)
		texts = append(texts, s)
		if q, err := json.Marshal(s); err == nil && len(q) > 2 && string(q[1:len(q)-1]) != s {
			texts = append(texts, string(q[1:len(q)-1]))
		}
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return texts
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			add(v)
		case json.Number:
			add(v.String())
			if f, err := v.Float64(); err == nil {
				add(strconv.FormatFloat(f, 'f', -1, 64))
				add(fmt.Sprint(f))
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				add(k)
				walk(e)
			}
		}
	}
	walk(v)
	return texts
}

// Scrub is text a module's driver produced with the module's protected values hidden, for the
// supervisor (supervisor.Config.Scrub); with moduleID "", the values of every module this node
// hosts (a line of a process that names no module: which module's value it quotes is unknown,
// and hiding another module's secret too costs nothing).
func (c *Core) Scrub(moduleID, text string) string {
	if moduleID != "" {
		return model.Scrub(text, c.secretsOf(moduleID))
	}
	c.mu.Lock()
	var secrets []string
	for _, st := range c.modules {
		secrets = append(secrets, st.secrets...)
	}
	c.mu.Unlock()
	return model.Scrub(text, secrets)
}

// secretsOf is what a running module's driver must not say to callers.
func (c *Core) secretsOf(moduleID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.modules[moduleID]; st != nil {
		return st.secrets
	}
	return nil
}
