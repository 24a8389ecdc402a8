package core

import (
	"errors"

	"github.com/placeos-go/engine/auth"
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
// An execute's error is different: the caller chose the arguments, and a driver's words about
// them can be steered. Hiding the protected values in it is an oracle — a driver that quotes the
// input it refuses shows a right guess hidden and a wrong one in clear, and one that transforms
// its input first (strconv.Atoi("+482913"), a trim, a truncation) defeats any attempt to hide the
// caller's own values alongside; exempting those values instead lets a call carrying every PIN
// unmask a driver that quotes the PIN by itself. Two red-team rounds broke each rule that looked
// at the text. So whether a caller sees an execute's error does not depend on the secrets' values:
// a caller who may read every protected value of the module (callerReads) gets the driver's words
// with the values hidden as everywhere else — no oracle there, it could read them anyway — and
// any other caller gets the error's kind, class and code with hiddenMessage for its words and no
// backtrace. never_displayed values count as an admin's here: nobody reads them, but an admin
// chooses the drivers that receive them (docs/security.md), so hiding a driver's words from
// admins would protect nothing. A module without protected values keeps its errors as they are,
// and a successful call costs nothing.

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

// scrubAny is err, a failed start, update or move of a module whose values are secrets, with
// those and every other value this node knows hidden: the driver process holds all its modules'
// values, and one connection shared between them can fail one module's start with another's
// password, as it can log it (scrubscope.go). Nobody's arguments shape such a failure, so hiding
// every value there is no oracle — unlike an execute's error (callError), which keeps to its own
// module's values.
func (c *Core) scrubAny(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	c.mu.Lock()
	all := c.anySecretsLocked()
	c.mu.Unlock()
	return scrubWith(err, func(texts []string) []string {
		out := make([]string, len(texts))
		for i, t := range texts {
			out[i] = all.Scrub(t, secrets...)
		}
		return out
	})
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
	out.Backtrace = nil
	if len(texts) > 1 {
		out.Backtrace = texts[1:]
	}
	return &out
}

// hiddenMessage is what a caller who may not read every protected value of a module sees of its
// driver's words in an execute's error.
const hiddenMessage = "[redacted]: the driver's message is shown only to callers who may read every protected setting of the module"

// callError is a failed execute's err as its caller may see it (see above): with the module's
// protected values hidden when the caller may read them all (err itself when there are none),
// else with hiddenMessage for its words (its kinds kept, a driver error still found by
// errors.As, without its backtrace).
func (c *Core) callError(moduleID string, caller auth.Caller, err error) error {
	secrets, reads := c.callerReads(moduleID, caller)
	if reads {
		return scrub(err, secrets)
	}
	return scrubWith(err, hideAll)
}

// callerReads is module moduleID's protected values and whether caller may read every one of
// them (see above: never_displayed as admin's). A module this node does not know (it left long
// enough ago, leaving.go) fails closed: as if it had every value this node knows, at admin level.
func (c *Core) callerReads(moduleID string, caller auth.Caller) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	secrets, level, known := c.secretsLocked(moduleID)
	if !known {
		secrets, level = c.allSecretsLocked(), model.LevelAdmin
	}
	if level == model.LevelNeverDisplayed {
		level = model.LevelAdmin
	}
	return secrets, level == "" || level.ReadableBy(caller.Clearance)
}

// hideAll is the cleaner of an execute's error its caller may not read: the message only, in
// the engine's words.
func hideAll([]string) []string { return []string{hiddenMessage} }

// Scrub is text a module's driver produced with the module's protected values hidden, for the
// supervisor (supervisor.Config.Scrub), also while and after the module leaves this node
// (leaving.go), and with them the values of every module this node hosts or that left it lately:
// the driver holds all its modules' values, and which module's value the text quotes is the
// driver's word (with moduleID "", or one this node does not know, unknown); hiding another
// module's secret too costs nothing. The supervisor scrubs the driver's log and debug lines so,
// whatever module they name (scrubscope.go), and its lines about a module's failed start.
func (c *Core) Scrub(moduleID, text string) string {
	c.mu.Lock()
	secrets, _, _ := c.secretsLocked(moduleID)
	all := c.anySecretsLocked()
	c.mu.Unlock()
	return all.Scrub(text, secrets...)
}
