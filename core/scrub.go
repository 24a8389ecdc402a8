package core

import (
	"errors"

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
