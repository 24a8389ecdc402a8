package supervisor

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/hashicorp/go-hclog"
)

// driverLines is the logger a driver's own log lines reach the engine's log through (go-plugin
// lifts its hclog JSON lines with it; pluginLogger.Named). hclog quotes a field's value but
// writes the message and the field names as they are, and the driver chooses those: a line
// break in them — a hostile driver's, or a device's reply an honest driver put in its message —
// would start a line of its own that reads as the engine's ("[ERROR] engine.auth: …"), and an
// escape sequence would drive the operator's terminal. So both are written with those characters
// escaped (logSafe).
type driverLines struct{ hclog.Logger }

func (d driverLines) Log(level hclog.Level, msg string, args ...any) {
	d.Logger.Log(level, logSafe(msg), safeKeys(args)...)
}
func (d driverLines) Trace(msg string, args ...any) { d.Log(hclog.Trace, msg, args...) }
func (d driverLines) Debug(msg string, args ...any) { d.Log(hclog.Debug, msg, args...) }
func (d driverLines) Info(msg string, args ...any)  { d.Log(hclog.Info, msg, args...) }
func (d driverLines) Warn(msg string, args ...any)  { d.Log(hclog.Warn, msg, args...) }
func (d driverLines) Error(msg string, args ...any) { d.Log(hclog.Error, msg, args...) }

// safeKeys escapes the field names among args (every other one, from the first).
func safeKeys(args []any) []any {
	copied := false
	for i := 0; i < len(args); i += 2 {
		if k, ok := args[i].(string); ok && strings.ContainsFunc(k, unsafeRune) {
			if !copied {
				args, copied = append([]any(nil), args...), true // the caller's slice stays as it was
			}
			args[i] = logSafe(k)
		}
	}
	return args
}

// logSafe is s with line breaks, escape sequences and the other control characters written as
// Go escapes (\n, \r, \x1b, \u2028), so that it stays one line of plain text; a tab stays.
func logSafe(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !unsafeRune(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029')
}
