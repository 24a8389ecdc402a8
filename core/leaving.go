package core

import (
	"slices"
	"time"

	"github.com/placeos-go/engine/model"
)

// A module that leaves this node (stopped, deleted, placed on another node) has its state taken
// out of c.modules at the start of the pass that stops it, but its driver still speaks of it: an
// execute in flight answers after the stop (a slow call to an unreachable device), and an
// OnUnload logs out of the device with the password, in the engine's log and a debug stream.
// Its protected values and their level stay known as a leftModule until that is over: the stop
// has returned, no execute of it runs here any more, and leftKeep has passed since both (a log
// line travels through the driver's stderr pipe and arrives a little after the call that wrote
// it; settleLeft). A module that comes back under the same id meanwhile has both its old and new
// values hidden, under the higher of their levels; so have the old values of a module whose
// values changed (setSecrets), which its driver runs on until the update took. Past that, a line
// or an error about a module this node does not know is treated as if the module had the values
// of every module it knows, at the highest level (scrub.go): it fails closed.

// leftKeep is how long a module's values are kept after its stop returned and its last execute
// here ended.
const leftKeep = 10 * time.Second

// leftModule is what a node keeps of a module that left it.
type leftModule struct {
	secrets []string
	level   model.Level
	gen     uint64 // bumped by each leave: a check scheduled for an earlier one does nothing
	check   *time.Timer
}

// leaveLocked keeps module id's values as it leaves c.modules; c.mu is held. The returned
// generation is what settleLeft is given once the stop returned.
func (c *Core) leaveLocked(id string, st *moduleState) uint64 {
	if c.left == nil {
		c.left = map[string]*leftModule{}
	}
	l := c.left[id]
	if l == nil {
		l = &leftModule{}
		c.left[id] = l
	}
	for _, s := range st.secrets {
		if !slices.Contains(l.secrets, s) {
			l.secrets = append(l.secrets, s)
		}
	}
	l.level = higherLevel(l.level, st.secretLevel)
	l.gen++
	return l.gen
}

// setSecrets gives module id its protected values. Values it no longer has (a password changed)
// are kept as if it had left (leaveLocked): its driver runs on the old settings until the update
// took, and its executes in flight may still quote them.
func (c *Core) setSecrets(id string, secrets []string, level model.Level) {
	c.mu.Lock()
	st := c.modules[id]
	if st == nil {
		c.mu.Unlock()
		return
	}
	var gen uint64
	dropped := slices.ContainsFunc(st.secrets, func(s string) bool { return !slices.Contains(secrets, s) })
	if dropped {
		gen = c.leaveLocked(id, st)
	}
	if !slices.Equal(st.secrets, secrets) {
		c.anySecrets = nil // a value added (or dropped and kept in c.left): index them again
	}
	st.secrets, st.secretLevel = secrets, level
	c.mu.Unlock()
	if dropped {
		c.settleLeft(id, gen)
	}
}

// settleLeft forgets what module id left behind at gen once it is over (see above): checked
// every leftKeep from now, it is forgotten at the second check in a row that finds no execute of
// it here, so leftKeep to twice that after the stop returned and its last execute ended.
func (c *Core) settleLeft(id string, gen uint64) {
	c.checkLeftAfter(id, gen, true) // an execute may have ended just before the first check
}

func (c *Core) checkLeftAfter(id string, gen uint64, wasBusy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.left[id]; l != nil && l.gen == gen && !c.leftStopped {
		l.check = time.AfterFunc(leftKeep, func() {
			if busy, again := c.checkLeft(id, gen, wasBusy); again {
				c.checkLeftAfter(id, gen, busy)
			}
		})
	}
}

// stopLeft ends settleLeft's checks (Close): what modules left behind is kept from then on.
func (c *Core) stopLeft() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leftStopped = true
	for _, l := range c.left {
		if l.check != nil {
			l.check.Stop()
		}
	}
}

// checkLeft is one check of settleLeft: busy reports an execute of module id running here, again
// that what it left at gen is kept until the next check.
func (c *Core) checkLeft(id string, gen uint64, wasBusy bool) (busy, again bool) {
	if busy = c.calls.serving(id); busy || wasBusy {
		return busy, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.left[id]; l != nil && l.gen == gen {
		delete(c.left, id)
		c.anySecrets = nil // its values need hiding no more
	}
	return false, false
}

// serving reports whether an execute of moduleID runs here.
func (cs *calls) serving(moduleID string) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for k := range cs.running {
		if k.module == moduleID {
			return true
		}
	}
	return false
}

// secretsLocked is module id's protected values and the highest of their levels, as this node
// knows them: its state, what it left behind, or both; known is false for neither. c.mu is held.
func (c *Core) secretsLocked(id string) (secrets []string, level model.Level, known bool) {
	st, l := c.modules[id], c.left[id]
	switch {
	case l == nil && st == nil:
		return nil, "", false
	case l == nil:
		return st.secrets, st.secretLevel, true
	case st == nil:
		return l.secrets, l.level, true
	}
	return append(slices.Clip(st.secrets), l.secrets...), higherLevel(st.secretLevel, l.level), true
}

// allSecretsLocked is the values of every module this node knows, hosted or left; c.mu is held.
func (c *Core) allSecretsLocked() []string {
	var out []string
	for _, st := range c.modules {
		out = append(out, st.secrets...)
	}
	for _, l := range c.left {
		out = append(out, l.secrets...)
	}
	return out
}

// higherLevel is the more protected of a and b.
func higherLevel(a, b model.Level) model.Level {
	if levelRank(b) > levelRank(a) {
		return b
	}
	return a
}

func levelRank(l model.Level) int {
	return slices.Index([]model.Level{model.LevelNone, model.LevelSupport, model.LevelAdmin, model.LevelNeverDisplayed}, l)
}
