package sdktest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// LogWriter is an io.Writer for the loggers of what a test starts besides the harness: the
// hclog.Logger given to go-plugin for a driver process the test launches (its own lines and the
// driver's stderr), a simulator's. Each line goes to t.Log, which go test shows for a failing
// test only (or with -v), so a passing test stays quiet; lines written after the test ended are
// dropped (testing.T must not be written to then).
func LogWriter(t testing.TB) io.Writer {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return w
}

// testWriter writes lines to the test log until it is closed.
type testWriter struct {
	t    testing.TB
	line func(p []byte) string // how a line reads in the log; nil: as written

	mu     sync.Mutex
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	var line string
	if w.line != nil {
		line = w.line(p)
	} else {
		line = strings.TrimRight(string(p), "\n")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(line)
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// line keeps a line of the driver's hclog JSON (Harness.Logs) and says how it reads in the test
// log: "level: message k=v".
func (c *logCapture) line(p []byte) string {
	e, ok := c.add(p)
	if !ok {
		return strings.TrimRight(string(p), "\n")
	}
	return e.String()
}

// LogEntry is one log line of the driver (any level at or above debug).
type LogEntry struct {
	Level   string
	Message string
	Fields  map[string]any
}

// String is "level: message k=v ...", the fields in name order.
func (e LogEntry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Level, e.Message)
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		fmt.Fprintf(&b, " %s=%v", k, e.Fields[k])
	}
	return b.String()
}

type logCapture struct {
	mu      sync.Mutex
	entries []LogEntry
	changed chan struct{}
}

// add keeps a line of the driver's hclog JSON; ok is false for one that is not JSON.
func (c *logCapture) add(p []byte) (e LogEntry, ok bool) {
	var raw map[string]any
	if json.Unmarshal(p, &raw) != nil {
		return LogEntry{}, false
	}
	e = LogEntry{Fields: map[string]any{}}
	for k, v := range raw {
		switch k {
		case "@level":
			e.Level, _ = v.(string)
		case "@message":
			e.Message, _ = v.(string)
		case "@timestamp", "@module":
		default:
			e.Fields[k] = v
		}
	}
	c.mu.Lock()
	c.entries = append(c.entries, e)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return e, true
}

// Logs returns the driver's log lines so far (every module, debug and above).
func (h *Harness) Logs() []LogEntry {
	h.logs.mu.Lock()
	defer h.logs.mu.Unlock()
	return append([]LogEntry(nil), h.logs.entries...)
}

// WaitLog waits until a log line whose message contains substr appears, and returns it.
func (h *Harness) WaitLog(substr string) LogEntry {
	h.t.Helper()
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	for {
		h.logs.mu.Lock()
		for _, e := range h.logs.entries {
			if strings.Contains(e.Message, substr) {
				h.logs.mu.Unlock()
				return e
			}
		}
		ch := h.logs.changed
		h.logs.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			h.t.Fatalf("sdktest: no log line containing %q within %s", substr, Timeout)
		}
	}
}
