package core

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

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
// An execute's error is the caller's answer, and the caller chose the arguments: hiding only the
// protected value in it is an oracle. A driver that quotes the input it refuses ("input
// \"482913\" is not one of …") shows a right guess hidden and a wrong one in clear; exempting the
// caller's own values instead lets one call carrying every PIN read a driver that quotes the PIN
// by itself. Masking the arguments as well as the secrets is not enough either: which spans of
// the text hold a value the caller sent may depend on the secret ("for proj3ctor!" sent, "login
// refused for Proj3ctor!" said: the right guess hides "for" too, a wrong one does not; a guess
// with a suffix echoed whole is the same picture from the other side). So in an execute's error
// of a module that has protected values, every line that quotes a protected value or any value
// of the call's arguments (hideQuoting) becomes "[redacted]" as a whole: whether a line is
// hidden then depends on what the driver put in it, never on whether a guess was right. A module
// without protected values keeps its errors as they are, and a successful call costs nothing.

// scrub is err with the module's secrets hidden in its text; err itself when its text holds
// none. The scrubbed error is still of err's kinds (errors.Is), and a driver error in it is still
// found (errors.As), scrubbed too; nothing unwraps to the text that held the secret.
func scrub(err error, secrets []string) error {
	if len(secrets) == 0 {
		return err
	}
	return scrubWith(err, func(texts []string) []string {
		out := make([]string, len(texts))
		for i, t := range texts {
			out[i] = model.Scrub(t, secrets)
		}
		return out
	})
}

// scrubCall is a failed execute's err with every line that quotes one of the module's secrets
// or a value of the call's args hidden; err itself when the module has no secrets or no line
// quotes one.
func scrubCall(err error, secrets []string, args json.RawMessage) error {
	if len(secrets) == 0 {
		return err
	}
	return scrubWith(err, hideQuoting(secrets, args))
}

// A cleaner is what callers may see of texts a driver said (an error's message and each line of
// its backtrace), in the same order.
type cleaner func(texts []string) []string

func scrubWith(err error, clean cleaner) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	if msg := clean([]string{text})[0]; msg != text {
		return &scrubbedError{msg: msg, err: err, clean: clean}
	}
	return err
}

type scrubbedError struct {
	msg   string
	err   error
	clean cleaner
}

func (e *scrubbedError) Error() string        { return e.msg }
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.err, target) }
func (e *scrubbedError) As(target any) bool {
	p, ok := target.(**errkind.DriverError)
	var de *errkind.DriverError
	if !ok || !errors.As(e.err, &de) {
		return false
	}
	*p = scrubDriverError(de, e.clean)
	return true
}

// scrubDriverError is de with its message and backtrace cleaned.
func scrubDriverError(de *errkind.DriverError, clean cleaner) *errkind.DriverError {
	out := *de
	texts := clean(append([]string{de.Message}, de.Backtrace...))
	out.Message = texts[0]
	if de.Backtrace != nil {
		out.Backtrace = texts[1:]
	}
	return &out
}

// hideQuoting is the cleaner of a failed call of a module with protected values: each line of
// the texts that holds one of secrets, or any form (model.AppendForms) of a value args hold, is
// "[redacted]"; other lines are kept as they are. The values of args are each string, each key
// and each number — as sent and as Go prints it, since a driver may normalise 4.82913e5 to 482913
// — of model.MinSecretLen or more, matched ignoring ASCII case like the secrets. The lines are
// sought for args before the secrets, all of them: how long the call's answer takes must not
// depend on whether a line quotes a secret either (a right guess would skip reading the args).
func hideQuoting(secrets []string, args json.RawMessage) cleaner {
	return func(texts []string) []string {
		lines := make([][]string, len(texts))
		var open []*string // the lines not yet found to quote args
		longest := 0
		for i, t := range texts {
			lines[i] = strings.Split(t, "\n")
			for j := range lines[i] {
				open = append(open, &lines[i][j])
				longest = max(longest, len(lines[i][j]))
			}
		}
		hideArgs(open, longest, args)
		for _, ls := range lines {
			for j, l := range ls {
				if l != model.RedactedValue && model.Quotes(l, secrets) {
					ls[j] = model.RedactedValue
				}
			}
		}
		out := make([]string, len(texts))
		for i, l := range lines {
			out[i] = strings.Join(l, "\n")
		}
		return out
	}
}

// maxEscapedArgs is how many values with other forms — a string JSON or a URL escapes (each has
// a dozen forms to make and seek), a number Go may print otherwise than it was sent — hideArgs
// looks for. A call carrying more hides every line: a caller filling a body with such
// candidates gets nothing, and costs the node no more than this.
const maxEscapedArgs = 1024

// hideArgs hides each of the open lines that holds a form of a value of args; longest is the
// length of the longest line of the texts.
func hideArgs(open []*string, longest int, args json.RawMessage) {
	// A value too short to be a secret is in every text; one longer than every line is in none,
	// unless one of its lines is.
	sought := func(v string) bool {
		return len(v) >= model.MinSecretLen && (len(v) <= longest || strings.ContainsAny(v, "\r\n"))
	}
	// Most values read only as they are sent: sought at once, allocating nothing. The others
	// are counted, and sought with their other forms after.
	escaped := 0
	eachArgValue(args, func(v string, number bool) bool {
		if number && !asPrinted(v) {
			escaped++
		}
		switch {
		case !sought(v):
		case model.Plain(v):
			open = hideHolding(open, v)
		default:
			escaped++
		}
		return len(open) > 0
	})
	if escaped == 0 || len(open) == 0 {
		return
	}
	if escaped > maxEscapedArgs {
		for _, l := range open {
			*l = model.RedactedValue
		}
		return
	}
	var forms []string
	eachArgValue(args, func(v string, number bool) bool {
		forms = forms[:0]
		if sought(v) && !model.Plain(v) {
			forms = model.AppendForms(forms, v)
		}
		if number && !asPrinted(v) {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				for _, format := range []byte{'f', 'g'} {
					if p := strconv.FormatFloat(f, format, -1, 64); sought(p) {
						forms = model.AppendForms(forms, p)
					}
				}
			}
		}
		for _, f := range forms {
			open = hideHolding(open, f)
		}
		return len(open) > 0
	})
}

// asPrinted reports whether Go prints the JSON number num as it reads (strconv's 'f' and 'g'
// forms, fmt's %v): an integer of up to 6 digits, as most numbers a caller sends are.
func asPrinted(num string) bool {
	if len(num) > 6 || num == "" || len(num) > 1 && num[0] == '0' {
		return false
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return false
		}
	}
	return true
}

// hideHolding hides each line of open that holds form (ignoring ASCII case) and returns the
// others.
func hideHolding(open []*string, form string) []*string {
	kept := open[:0]
	for _, l := range open {
		if model.Quotes(*l, []string{form}) {
			*l = model.RedactedValue
		} else {
			kept = append(kept, l)
		}
	}
	return kept
}

// eachArgValue calls fn with each string, key (number false) and number's text (number true)
// of args until fn returns false or args end. args are valid JSON (the call's checks passed
// them); they are read in place, so that a failed call carrying megabytes of candidates costs
// one copy of them, not a decoded tree.
func eachArgValue(args json.RawMessage, fn func(v string, number bool) bool) {
	s := string(args) // every value without escapes is a part of this copy
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '"':
			end, escaped := i+1, false
			for ; end < len(s) && s[end] != '"'; end++ {
				if s[end] == '\\' {
					escaped = true
					end++
				}
			}
			if end >= len(s) {
				return
			}
			v := s[i+1 : end]
			if escaped || !utf8.ValidString(v) { // as a driver's decoder reads it
				var decoded string // apart from v, which would escape to the heap for every value
				if json.Unmarshal(args[i:end+1], &decoded) != nil {
					return
				}
				v = decoded
			}
			if !fn(v, false) {
				return
			}
			i = end + 1
		case c == '-' || '0' <= c && c <= '9':
			end := i + 1
			for end < len(s) && strings.IndexByte("+-.eE0123456789", s[end]) >= 0 {
				end++
			}
			if !fn(s[i:end], true) {
				return
			}
			i = end
		default: // structure, space, true, false, null
			i++
		}
	}
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
