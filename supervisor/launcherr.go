package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
)

const (
	// stderrTailLines and maxStderrLine bound what a failed launch's error quotes of the
	// process's stderr (3 × 160 bytes, about 512 with the separators): the error travels into
	// last_error, a module's runtime_error and the logs, and a driver that dumps megabytes before
	// dying must not put them there.
	stderrTailLines = 3
	maxStderrLine   = 160
	// keptStderrLine is how much of a line is kept until it is scrubbed and cut to
	// maxStderrLine: a protected value that straddles the cut is whole when it is looked for.
	keptStderrLine = 1024

	// protocolHint is said of a process that answered the handshake with something else: a
	// program that is not a driver, or a driver printing on stdout before plugin.Serve. A process
	// that failed and said why on stderr is told by that instead (launchExited).
	protocolHint = "the driver binary must serve the engine's driver protocol (plugin.Serve / sdk.Serve) and write nothing else to stdout"
)

// stderrTail keeps the last stderrTailLines lines a process wrote on its stderr pipe: the reason
// a driver gives when it gives up at launch ("cannot open config") is what it wrote last. A Go
// panic is the exception: its first line says what happened and the stack trace that follows
// would push it out, so from a "panic: " or "fatal error: " line on only that line and the next
// ones that fit are kept. Written by the stderr pump only, read once the process has exited
// (procRunner.exited orders the two).
type stderrTail struct {
	lines [stderrTailLines][]byte
	next  int // the slot the next line goes to
	// panicked counts the lines kept since a panic's first line (0: none seen).
	panicked int
}

func (t *stderrTail) add(line []byte) {
	switch {
	case t.panicked >= stderrTailLines:
		return
	case t.panicked > 0:
		t.panicked++
	case bytes.HasPrefix(line, []byte("panic: ")) || bytes.HasPrefix(line, []byte("fatal error: ")):
		t.panicked = 1
	}
	// The slot's buffer is reused: a flooding process costs no allocation per line.
	t.lines[t.next] = append(t.lines[t.next][:0], line[:min(len(line), keptStderrLine)]...)
	t.next = (t.next + 1) % stderrTailLines
}

// text is the lines, oldest first, each passed through scrub, cut to maxStderrLine bytes and
// joined with " | "; "" when the process wrote nothing.
func (t *stderrTail) text(scrub func(string) string) string {
	var parts []string
	for i := range stderrTailLines {
		line := t.lines[(t.next+i)%stderrTailLines]
		if len(line) == 0 {
			continue
		}
		text := scrub(string(line))
		if len(text) > maxStderrLine {
			text = strings.ToValidUTF8(text[:maxStderrLine], "") + "…"
		}
		parts = append(parts, text)
	}
	return strings.Join(parts, " | ")
}

// launchExited is the error of a launch whose process exited by itself, with a failure, before
// the launch completed: its exit status and what it said last on stderr, not what go-plugin
// made of its silent stdout.
func launchExited(status, tail string) error {
	if tail == "" {
		return fmt.Errorf("%w (%s); it wrote nothing on stderr", ErrLaunchExited, status)
	}
	return fmt.Errorf("%w (%s); its last lines on stderr: %s", ErrLaunchExited, status, tail)
}

// pluginLogger is the logger go-plugin gets. go-plugin logs a process's exit and its own
// clean-up at INFO to ERROR, and the supervisor says the same better (which driver, why, what
// happens next): a crash-looping driver would add two or three such lines to every one of its
// own. Those go to DEBUG. The logger go-plugin derives with Named writes the driver's own stderr
// lines, at their own level, with their control characters escaped (driverLines).
type pluginLogger struct{ hclog.Logger }

func (l pluginLogger) Named(name string) hclog.Logger { return driverLines{l.Logger.Named(name)} }

func (l pluginLogger) Info(msg string, args ...any)  { l.log(hclog.Info, msg, args) }
func (l pluginLogger) Warn(msg string, args ...any)  { l.log(hclog.Warn, msg, args) }
func (l pluginLogger) Error(msg string, args ...any) { l.log(hclog.Error, msg, args) }

func (l pluginLogger) log(level hclog.Level, msg string, args []any) {
	if pluginNoise(msg, args) {
		level = hclog.Debug
	}
	l.Log(level, msg, args...)
}

// pluginNoise tells go-plugin's lines that repeat what the supervisor logs itself.
func pluginNoise(msg string, args []any) bool {
	switch msg {
	case "plugin process exited", // the supervisor's "driver process exited" / "failed to start"
		"plugin failed to exit gracefully": // every process that never completed its handshake
		return true
	case "error encountered while scanning stdout":
		// procRunner.wait closes the pipe once the process is gone (a child may hold it open):
		// the reader then fails with ErrClosed, which is no fault. Any other error is shown.
		for _, a := range args {
			if err, ok := a.(error); ok && errors.Is(err, os.ErrClosed) {
				return true
			}
		}
	}
	return false
}

// launchErr is the error of a launch that failed with err once its process pr has exited;
// exitedItself: it was not killed by the supervisor. A process that failed on its own says why
// (its status, its stderr); one that wrote something other than the handshake and exited 0 or
// ran on gets the protocol hint; either way the exit status is there for last_exit_code.
func launchErr(err error, pr *procRunner, exitedItself bool, limit int64, scrub func(string) string) error {
	status, code, signal := pr.exitStatus()
	if pr.outOfMemory() {
		status = "out of memory" + limitNote(limit) + ", " + status
	}
	switch {
	case exitedItself && (code != 0 || signal != ""):
		err = launchExited(status, pr.tail.text(scrub))
	case pr.unrecognized.Load():
		err = fmt.Errorf("%w\n%s (%s)", err, protocolHint, status)
	default:
		err = fmt.Errorf("%w (%s)", err, status)
	}
	return &exitError{err: err, code: code, signal: signal}
}
