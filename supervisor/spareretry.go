package supervisor

import (
	"os"
	"slices"
	"time"
)

// A spare that keeps failing backs off. One that cannot launch beside the driver's process (its
// main binds a fixed port) fails alike every time, and tried every StableAfter it would log a
// WARN a minute for as long as the driver ran. So the next try comes StableAfter after the first failure,
// then after twice the last wait, up to Config.SpareBackoffMax. The first failure is one WARN
// saying why (with the hint, for a launch); each repeat is one INFO line with the next try's time,
// and the spare's own stderr lines during its launch are DEBUG (they are in the launch's error).
// The count starts over once a spare has been ready for StableAfter or taken over, and when the
// driver's memory limit, environment or binary file changes: what fixing the cause most likely
// changes, so such a change also ends the wait (noticed every ProbeInterval).

// spareBackoff is the state of a driver's spare tries, kept by its keepSpare goroutine.
type spareBackoff struct {
	fails int           // failures in a row
	wait  time.Duration // the wait after the last failure
	cfg   spareConfig   // what the last try was launched with
}

// spareConfig is what a launch of the driver takes from outside the supervisor.
type spareConfig struct {
	memLimit int64
	env      []string
	binary   os.FileInfo // nil: not found
}

func currentSpareConfig(d *driver) spareConfig {
	cfg := d.s.cfg
	var c spareConfig
	if cfg.MemoryLimit != nil {
		c.memLimit = cfg.MemoryLimit(d.binary)
	}
	if cfg.Env != nil {
		c.env = cfg.Env(d.binary)
	}
	c.binary, _ = os.Stat(d.binary)
	return c
}

func (c spareConfig) equal(o spareConfig) bool {
	sameFile := c.binary == nil && o.binary == nil ||
		c.binary != nil && o.binary != nil && os.SameFile(c.binary, o.binary) && c.binary.ModTime().Equal(o.binary.ModTime())
	return c.memLimit == o.memLimit && slices.Equal(c.env, o.env) && sameFile
}

// noteConfig records what the next try is launched with; a change since the last try starts the
// count over.
func (b *spareBackoff) noteConfig(d *driver) {
	c := currentSpareConfig(d)
	if b.fails > 0 && !c.equal(b.cfg) {
		b.reset()
	}
	b.cfg = c
}

func (b *spareBackoff) reset() { b.fails, b.wait = 0, 0 }

// next counts a failure and returns the wait before the next try.
func (b *spareBackoff) next(stable, limit time.Duration) time.Duration {
	b.fails++
	if b.fails == 1 {
		b.wait = stable
	} else {
		b.wait = min(2*b.wait, max(limit, stable))
	}
	return b.wait
}

// Log lines of a spare's failures: the first in a row (WARN), and a repeat (INFO).
const (
	spareLaunchFailed      = "spare driver process failed to launch; tried again later"
	spareLaunchFailedAgain = "spare driver process failed to launch again"
	spareExited            = "spare driver process exited; another is launched later"
	spareExitedAgain       = "spare driver process exited again"
)

// spareFailed logs a failure of d's spare (first: the first in a row, again: a repeat) with its
// fields, and returns the wait before the next try.
func (d *driver) spareFailed(b *spareBackoff, first, again string, fields ...any) time.Duration {
	cfg := d.s.cfg
	wait := b.next(cfg.StableAfter, cfg.SpareBackoffMax)
	fields = append(fields, "failures", b.fails, "retry_in", wait.String(),
		"next_try", time.Now().Add(wait).UTC().Format(time.RFC3339))
	if b.fails == 1 {
		d.log.Warn(first, fields...)
		return wait
	}
	// The same failure again: the WARN said why, this says when the next try is.
	d.log.Info(again, dropField(fields, "hint")...)
	return wait
}

// dropField is fields without the key name and its value.
func dropField(fields []any, name string) []any {
	out := make([]any, 0, len(fields))
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] != name {
			out = append(out, fields[i], fields[i+1])
		}
	}
	return out
}

// sparePause waits out the backoff's wait before the next try: false once d stops. A change of
// what the launch takes (spareConfig) ends it early and starts the count over.
func (d *driver) sparePause(b *spareBackoff, wait time.Duration) bool {
	cfg := d.s.cfg
	t := time.NewTimer(wait)
	defer t.Stop()
	check := time.NewTicker(cfg.ProbeInterval)
	defer check.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-d.stop:
			return false
		case <-check.C:
			if !currentSpareConfig(d).equal(b.cfg) {
				d.log.Info("driver's configuration changed: its spare is tried again now", "failures", b.fails)
				b.reset()
				return true
			}
		}
	}
}
