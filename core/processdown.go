package core

import (
	"context"
	"fmt"
	"time"

	"github.com/placeos-go/engine/state"
	"github.com/placeos-go/engine/supervisor"
)

// processDown is why a module this node runs has no driver process: its process exited (or a
// relaunch failed) after the module had started, and no relaunched process has started it again.
// A killed process cannot set its modules' connected status to false, so the engine records this
// in their place, like a failed start (docs/protocol.md §9.5).
//
// Once a relaunched process has started it again, it is a restart note until that process has
// run the supervisor's StableAfter (stableAt): a crash loop with up windows of seconds must not
// read "all fine" between its crashes. The module runs then, so its connected status stands.
type processDown struct {
	// state is supervisor.StateRestarting or StateCrashloop when down, StateRunning for a
	// restart note; "" when neither.
	state string
	at    time.Time // when the episode began: later exits of it keep it
	text  string    // the runtime_error a module read shows, scrubbed
	// since is the moduleState.since of the start it interrupted: a record of an earlier start
	// of the module (started again or moved to a new binary since) is not this one's.
	since time.Time
	// stableAt is when a restart note lapses: the reads compute against it, here and (in the
	// record) on every node, so the note costs one write.
	stableAt time.Time
}

// noted reports whether d is a restart note: its module runs again.
func (d processDown) noted() bool { return d.state == supervisor.StateRunning }

// downFor is st's processDown if it belongs to st's current start. Caller holds c.mu.
func (st *moduleState) downFor() processDown {
	if !st.running || !st.down.since.Equal(st.since) || (st.down.noted() && !time.Now().Before(st.down.stableAt)) {
		return processDown{}
	}
	return st.down
}

// downHere is module id's processDown on this node, if its driver process is down.
func (c *Core) downHere(id string) processDown {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.modules[id]; st != nil {
		return st.downFor()
	}
	return processDown{}
}

// OnProcessState is the supervisor's Config.OnProcessState. A module of the driver goes down
// once per episode and, once per change to crashloop, says so again; it comes back up on the
// first relaunched process that has started it, to a restart note if it restarted. Only these
// changes are queued for Redis (by writeDowns, off the supervisor's goroutine): a crash loop
// restarts many times a minute, and a frozen Redis must not hold the relaunch.
func (c *Core) OnProcessState(binary string, moduleIDs []string, ps supervisor.ProcessState) {
	now := time.Now()
	// Why a process ended names no module: a launch failure may quote what the process printed.
	text := c.Scrub("", downText(ps, now))
	changed := false
	c.mu.Lock()
	for _, id := range moduleIDs {
		st := c.modules[id]
		// A module whose start has not succeeded yet is its starter's to report (startModule).
		if st == nil || !st.running || st.binary != binary {
			continue
		}
		cur := st.downFor()
		switch {
		case ps.State == supervisor.StateRunning && ps.StableAt.IsZero():
			if st.down.state == "" { // one of an earlier start of it is cleared too
				continue
			}
			st.down = processDown{}
		case cur.state == ps.State && !cur.noted():
			continue
		default:
			if cur.at.IsZero() {
				cur.at = now
			}
			st.down = processDown{state: ps.State, at: cur.at, since: st.since, text: text, stableAt: ps.StableAt}
		}
		c.queueDownLocked(id)
		changed = true
	}
	c.mu.Unlock()
	if changed {
		c.kickDowns()
	}
}

// queueDownLocked queues module id for writeDowns. Caller holds c.mu.
func (c *Core) queueDownLocked(id string) {
	if c.downPending == nil {
		c.downPending = map[string]bool{}
	}
	c.downPending[id] = true
}

func (c *Core) kickDowns() {
	select {
	case c.downKick <- struct{}{}:
	default:
	}
}

// downText is the runtime_error of a module whose driver process is down, or (StateRunning)
// runs again since now after restarts.
func downText(ps supervisor.ProcessState, now time.Time) string {
	s := "s"
	if ps.Restarts == 1 {
		s = ""
	}
	switch ps.State {
	case supervisor.StateRunning:
		return fmt.Sprintf("driver process restarted %d time%s (last: %s); running again since %s",
			ps.Restarts, s, ps.Reason, now.UTC().Format(time.RFC3339))
	case supervisor.StateCrashloop:
		return fmt.Sprintf("driver process is crash-looping (%d restart%s): %s", ps.Restarts, s, ps.Reason)
	}
	return fmt.Sprintf("driver process is restarting (%d restart%s): %s", ps.Restarts, s, ps.Reason)
}

// writeDowns writes each queued module's processDown to Redis (or clears it once up) until ctx
// ends. It reads the module's state when it writes, so the last write is the latest state and
// changes queued meanwhile are written once.
func (c *Core) writeDowns(ctx context.Context) {
	defer c.bg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.downKick:
		}
		c.mu.Lock()
		ids := c.downPending
		c.downPending = nil
		c.mu.Unlock()
		for id := range ids {
			if ctx.Err() != nil {
				return
			}
			c.writeDown(ctx, id)
		}
	}
}

// writeDown writes module id's processDown, or clears it.
func (c *Core) writeDown(ctx context.Context, id string) {
	c.mu.Lock()
	st := c.modules[id]
	var d processDown
	running := st != nil && st.running
	if running {
		d = st.downFor()
	}
	c.mu.Unlock()
	switch {
	case !running:
		// Stopped or gone: what Redis holds under its id may be its new owner's.
	case d.state != "":
		c.recordModuleError(ctx, id, state.ModuleError{At: d.at, Error: d.text, StableAt: d.stableAt})
	default:
		c.forgetStartFailure(ctx, id)
	}
}

// rerecordDowns queues every running module whose driver process is down: a Redis that lost the
// record has it back within rerecordAfter (recordModuleError writes an unchanged record no
// sooner). One whose record is of an earlier start (it has since moved to a new binary of its
// driver), or a restart note that has lapsed, is queued to have it cleared.
func (c *Core) rerecordDowns() {
	c.mu.Lock()
	queued := false
	for id, st := range c.modules {
		if st.down.state == "" || !st.running {
			continue
		}
		if st.downFor().state == "" {
			st.down = processDown{}
		}
		c.queueDownLocked(id)
		queued = true
	}
	c.mu.Unlock()
	if queued {
		c.kickDowns()
	}
}
