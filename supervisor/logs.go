package supervisor

import (
	"bufio"
	"bytes"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/tokens"
	"github.com/placeos-go/engine/metrics"
)

const (
	// maxLogLine bounds one stderr line; the rest of a longer line is dropped.
	maxLogLine = 64 << 10
	// cutSlack is what is dropped of a cut line after it was scrubbed (cutLine): a protected
	// value that straddled the cut is looked for in the part kept, which holds only its first
	// bytes, so they would reach the log. A value up to cutSlack long is now hidden whole or
	// not shown at all.
	cutSlack = 4 << 10
	// maxLogKeys bounds the per-module buckets of one process: module names come from the
	// driver, and a hostile one could invent a new one per line.
	maxLogKeys = 1024
	// droppedReportAfter is how long after the first dropped line the "N lines dropped" line is
	// written: one line per flood and module, however long the flood.
	droppedReportAfter = 5 * time.Second
	// A process that keeps writing lines only to have them dropped is read more slowly: more
	// than floodDrops dropped lines within floodWindow pause the reading for the rest of the
	// window. Its writes then block, and the flood costs its own CPU less too (the node's other
	// drivers share the cores); what it writes below the limit is not slowed.
	floodWindow = 100 * time.Millisecond
	floodDrops  = 1000
)

// logLimiter rate-limits one driver process's log lines with a token bucket per module (lines
// without a module share the driver's bucket). Over the limit, lines are dropped and counted;
// the count is logged once as "N lines dropped" and added to
// engine_driver_log_lines_dropped_total.
type logLimiter struct {
	rate, burst float64
	reportAfter time.Duration
	log         hclog.Logger
	binary      string
	met         *metrics.Metrics
	scrub       func(moduleID, text string) string // Config.Scrub

	mu      sync.Mutex
	buckets map[string]*bucket
	// window and drops count the dropped lines of the current floodWindow.
	window time.Time
	drops  int
}

type bucket struct {
	tokens.Bucket
	dropped int
	report  *time.Timer
}

func newLogLimiter(cfg *Config, log hclog.Logger, binary string) *logLimiter {
	return &logLimiter{rate: cfg.LogRate, burst: float64(cfg.LogBurst), reportAfter: cfg.logReportAfter, log: log, binary: binary, met: cfg.Metrics,
		scrub: cfg.Scrub, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket, or counts the line as dropped.
func (l *logLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLogKeys {
			key = ""
			b = l.buckets[key]
		}
		if b == nil {
			b = &bucket{Bucket: tokens.New(l.rate, l.burst, now)}
			l.buckets[key] = b
		}
	}
	if b.Take(now) {
		return true
	}
	b.dropped++
	if b.report == nil {
		b.report = time.AfterFunc(l.reportAfter, func() { l.reportDropped(key) })
	}
	return false
}

// pause is how long the reader of a flooding process waits before its next line, after a
// dropped one (0: none).
func (l *logLimiter) pause(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= floodWindow {
		l.window, l.drops = now, 0
	}
	l.drops++
	if l.drops <= floodDrops {
		return 0
	}
	return l.window.Add(floodWindow).Sub(now)
}

// take is allow for a line of the reader, pausing it while the process floods.
func (l *logLimiter) take(key string) bool {
	now := time.Now()
	if l.allow(key, now) {
		return true
	}
	if d := l.pause(now); d > 0 {
		time.Sleep(d)
	}
	return false
}

// reportDropped logs and counts what key's bucket dropped since its last report.
func (l *logLimiter) reportDropped(key string) {
	l.mu.Lock()
	b := l.buckets[key]
	n := 0
	if b != nil {
		n, b.dropped = b.dropped, 0
		if b.report != nil {
			b.report.Stop()
			b.report = nil
		}
	}
	l.mu.Unlock()
	if n == 0 {
		return
	}
	l.met.DriverLogLinesDropped(l.binary, n)
	args := []any{"dropped", n, "limit_per_second", l.rate}
	if key != "" {
		args = append(args, "module", key)
	}
	l.log.Warn("driver log lines dropped: over the rate limit", args...)
}

// flush reports every pending drop count at once (the process has exited).
func (l *logLimiter) flush() {
	l.mu.Lock()
	keys := make([]string, 0, len(l.buckets))
	for k, b := range l.buckets {
		if b.dropped > 0 {
			keys = append(keys, k)
		}
	}
	l.mu.Unlock()
	for _, k := range keys {
		l.reportDropped(k)
	}
}

// pumpStderr reads the driver's stderr until it closes. Lines the limiter allows go on: hclog
// JSON lines to out, which go-plugin reads and lifts into the engine's log at their own level;
// plain lines (a panic, a library printing to stderr) straight to the log at WARN, where they
// are seen at the default level. Lines below the log's level are skipped before the limiter, so
// debug chatter does not use up the budget of the lines that are shown.
func (r *procRunner) pumpStderr(l *logLimiter, out *io.PipeWriter) {
	defer func() {
		l.flush()
		_ = out.Close()
	}()
	level := l.log.GetLevel()
	br := bufio.NewReaderSize(r.stderr, maxLogLine)
	cont := false // the previous read was the start of a line longer than maxLogLine
	var fwd []byte
	for {
		line, isPrefix, err := br.ReadLine()
		if err != nil {
			return // EOF, or the pipe closed with the process
		}
		skip := cont
		cont = isPrefix
		if skip || len(line) == 0 {
			continue
		}
		cut := isPrefix  // the rest of the line is dropped
		r.tail.add(line) // whatever the limiter and the log level make of it
		if isOutOfMemory(line) {
			r.oom.Store(true)
		}
		if r.spare && r.launching.Load() {
			// A spare that fails its launch has these lines quoted in its error, and it is tried
			// again for as long as the driver runs: at their own level they would repeat a WARN
			// on every try (spareretry.go).
			l.quiet(line, cut)
			continue
		}
		if line[0] != '{' {
			l.plain(line, "stderr", cut)
			continue
		}
		if lv := hclog.LevelFromString(field(line, "@level")); lv != hclog.NoLevel && lv < level {
			continue
		}
		mod := field(line, "module")
		if !l.take(mod) {
			continue
		}
		// The values of every module, not only those of the module the line names: the driver
		// fills that field, holds all its modules' values, and may write a line that names one
		// module and quotes another's, or names none.
		fwd = append(append(fwd[:0], l.clean(line, cut)...), '\n')
		if _, err := out.Write(fwd); err != nil {
			return
		}
	}
}

// quiet logs a line a spare wrote during its launch at DEBUG, within the driver's bucket.
func (l *logLimiter) quiet(line []byte, cut bool) {
	if l.log.GetLevel() > hclog.Debug || !l.take("") {
		return
	}
	l.log.Debug(logSafe(l.clean(line, cut)), "stream", "stderr", "spare_launch", true)
}

// plain logs a line the driver wrote that is not an hclog line at WARN, within the driver's
// bucket: it is what a driver author or a library printed, often why the driver fails. cut: the
// rest of the line was dropped.
func (l *logLimiter) plain(line []byte, stream string, cut bool) {
	if l.log.GetLevel() > hclog.Warn || !l.take("") {
		return
	}
	// It names no module: any module's value may be quoted.
	l.log.Warn(logSafe(l.clean(line, cut)), "stream", stream) // a \r or an escape sequence, as in driverLines
}

// clean is a driver's line with every module's protected values hidden (Config.Scrub); of a line
// that was cut (the rest of it dropped), without its last cutSlack bytes and marked "…", as the
// first bytes of a value that straddled the cut would not be recognised.
func (l *logLimiter) clean(line []byte, cut bool) string {
	text := string(line)
	if l.scrub != nil {
		text = l.scrub("", text)
	}
	if !cut {
		return text
	}
	i := max(0, len(text)-cutSlack)
	for i > 0 && !utf8.RuneStart(text[i]) {
		i--
	}
	return text[:i] + "…"
}

// lineWriter hands what is written to it to fn line by line. go-plugin writes a driver's
// os.Stdout and os.Stderr to it: plugin.Serve redirects them over its stdio stream, so only the
// hclog lines (written to the stderr the logger was given before Serve) and the runtime's own
// last words (a panic, a fatal error) come through the stderr pipe.
type lineWriter struct {
	fn  func(line []byte, cut bool) // cut: the rest of the line was dropped
	buf []byte
	cut bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.keep(p)
			break
		}
		w.keep(p[:i])
		if len(w.buf) > 0 {
			w.fn(w.buf, w.cut)
		}
		w.buf, w.cut, p = w.buf[:0], false, p[i+1:]
	}
	return n, nil
}

// keep adds p to the line, up to maxLogLine.
func (w *lineWriter) keep(p []byte) {
	room := max(0, maxLogLine-len(w.buf))
	w.cut = w.cut || len(p) > room
	w.buf = append(w.buf, p[:min(len(p), room)]...)
}

// field is the string value of key in an hclog JSON line ("" if absent), found without a full
// decode: the pump runs on every line of a flood.
func field(line []byte, key string) string {
	if len(line) == 0 || line[0] != '{' {
		return ""
	}
	pat := `"` + key + `":"`
	i := bytes.Index(line, []byte(pat))
	if i < 0 {
		return ""
	}
	rest := line[i+len(pat):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// isOutOfMemory recognises the Go runtime's last words when an allocation fails at the memory
// limit (RLIMIT_DATA makes mmap fail, and the runtime throws). Which words depends on which
// allocation failed first: the heap's says "out of memory", the runtime's own metadata
// (persistentalloc) "cannot allocate memory" — under RLIMIT_DATA most deaths of a growing driver.
func isOutOfMemory(line []byte) bool {
	return bytes.HasPrefix(line, []byte("fatal error: out of memory")) ||
		bytes.HasPrefix(line, []byte("fatal error: runtime: out of memory")) ||
		bytes.HasPrefix(line, []byte("fatal error: runtime: cannot allocate memory")) ||
		bytes.HasPrefix(line, []byte("runtime: out of memory"))
}
