package httpwire

import (
	"log"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// AcceptLogInterval is how often a listener whose accepts keep failing logs: the first failure
// at once, then one line per interval with the number of failures since. At the process's file
// descriptor limit every accept fails, and the accept loops retry every few milliseconds: a line
// each would bury the log (and the disk) when the operator most needs it.
const AcceptLogInterval = 10 * time.Second

// AcceptLog logs the failed accepts of one listener at WARN, rate-limited. Both accept loops of a
// node use it: net/http's (the client API, through ServerErrorLog) and the cluster port's own.
type AcceptLog struct {
	log      hclog.Logger
	interval time.Duration

	mu         sync.Mutex
	window     bool // an interval runs: failures are counted, not logged
	timer      *time.Timer
	gen        uint64
	suppressed int
	lastErr    string
}

// NewAcceptLog logs the failed accepts of listener (a name and its address) on log.
func NewAcceptLog(logger hclog.Logger, listener, addr string) *AcceptLog {
	return &AcceptLog{log: logger.With("listener", listener, "addr", addr), interval: AcceptLogInterval}
}

// Failed records one failed accept: logged at once if none was in this interval, else counted.
func (a *AcceptLog) Failed(err string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.window {
		a.suppressed++
		a.lastErr = err
		return
	}
	a.log.Warn("accept failed: retrying (out of file descriptors? see the engine's connection limits)", "error", err)
	a.openWindow()
}

// openWindow starts an interval; a.mu is held. The generation lets a timer that fired as Stop
// ran know it is stale.
func (a *AcceptLog) openWindow() {
	a.window = true
	a.gen++
	gen := a.gen
	a.timer = time.AfterFunc(a.interval, func() { a.flush(gen) })
}

// flush ends an interval: the failures counted in it are logged in one line and a new interval
// begins; an interval without any ends the rate limit, so the next failure is logged at once.
func (a *AcceptLog) flush(gen uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen != a.gen {
		return
	}
	a.window = false
	if a.report() {
		a.openWindow()
	}
}

// report logs the failures counted since the last line, if any; a.mu is held.
func (a *AcceptLog) report() bool {
	if a.suppressed == 0 {
		return false
	}
	a.log.Warn("accepts still failing", "failed", a.suppressed, "in", a.interval.String(), "last_error", a.lastErr)
	a.suppressed, a.lastErr = 0, ""
	return true
}

// Stop ends the interval running, logging the failures counted in it; for a listener closed.
func (a *AcceptLog) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.window {
		return
	}
	a.timer.Stop()
	a.window = false
	a.gen++
	a.report()
}

// acceptErrorPrefix starts the line net/http's Server.Serve logs when Accept fails with an
// error it retries (EMFILE, ENFILE), followed by "; retrying in <backoff>".
const acceptErrorPrefix = "http: Accept error: "

// ServerErrorLog is the ErrorLog of an http.Server serving listener: its failed accepts go to an
// AcceptLog (WARN, rate-limited, the listener named), everything else net/http reports (TLS
// handshake errors, a handler's panic) to logger with the level the line's prefix gives.
func ServerErrorLog(logger hclog.Logger, listener, addr string) (*log.Logger, *AcceptLog) {
	al := NewAcceptLog(logger, listener, addr)
	rest := logger.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
	return log.New(serverLogWriter{accepts: al, rest: rest}, "", 0), al
}

type serverLogWriter struct {
	accepts *AcceptLog
	rest    interface{ Write([]byte) (int, error) }
}

func (w serverLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	if msg, ok := strings.CutPrefix(line, acceptErrorPrefix); ok {
		if i := strings.LastIndex(msg, "; retrying in "); i >= 0 {
			msg = msg[:i]
		}
		w.accepts.Failed(msg)
		return len(p), nil
	}
	return w.rest.Write(p)
}
