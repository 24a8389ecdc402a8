package core

import (
	"context"
	"errors"
	"maps"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/supervisor"
)

// desired is one module this node should run.
type desired struct {
	binary string
	config *proto.Module
	// secrets are the module's protected values, hidden in its driver's errors (scrub); set
	// only for a module whose driver is about to be called.
	secrets []string
	err     error
	// unbuilt: err says its driver has no binary here (its build failed), not that it is building.
	unbuilt bool
}

// reconcile makes this node true to the current model. It is only called from the Run loop, so
// it never races with itself; c.mu guards the maps against concurrent readers.
func (c *Core) reconcile(ctx context.Context) {
	if c.cfg.Cluster != nil && !c.cfg.Cluster.CaughtUp() {
		// Its model is an old one being replayed, or one a leader has not brought up to date:
		// acting on it would start modules deleted long ago, with their old settings, and see
		// modules leave that the cluster has long since added back. The store wakes the loop
		// once it is current.
		c.deleted.last = nil
		return
	}
	if c.cutOff.Load() {
		return // its modules are the other nodes' now (cutoff.go)
	}
	m, _ := c.cfg.Store.Model()
	v := c.refreshView()
	if c.cfg.Builder != nil {
		c.cfg.Builder.SetRepositories(c.neededRepositories(m, v))
	}
	want := c.desired(ctx, m, v)
	// A module that should no longer run has its operation in flight canceled and ended first,
	// so that dropUnwanted's stop comes after it (modop.go).
	c.cancelOps(func(id string) bool { return mustStop(want, id) })

	c.dropUnwanted(ctx, m, v, want)
	c.awaitOps(ctx, c.beginWanted(ctx, m, want))
	c.recordLastGood(ctx, m, want)

	c.reconcileLookups(ctx, m, v)
	c.recordModules()
	c.rerecordDowns()
	// A module waiting for its driver's build is not reconciled yet; the build's end runs
	// another pass. One whose operation is still in flight is: it has been waited for as long
	// as a pass waits (modop.go, "Readiness"). So is one whose build has run past
	// Config.BuildHoldsReady (build.go).
	building := false
	for _, w := range want {
		building = building || errors.Is(w.err, ErrBuilding) && !errors.Is(w.err, errBuildOverdue)
	}
	if ctx.Err() == nil && !building {
		c.markReady(ctx, v)
	}
}

// mustStop reports whether a module running here must stop: want does not list it, or lists it
// with an error other than a build in flight. A module whose new binary is still building keeps
// running on the old one, and one whose binary changed moves to it without a gap (beginWanted).
func mustStop(want map[string]desired, id string) bool {
	w, ok := want[id]
	return !ok || (w.err != nil && !errors.Is(w.err, ErrBuilding))
}

// dropUnwanted lets go of what this node should no longer run (mustStop) or track (not in want):
// it stops the running ones, releases and forgets the ones whose start failed, and then deletes
// what Redis holds of the modules deleted from the model.
func (c *Core) dropUnwanted(ctx context.Context, m *model.Model, v *view, want map[string]desired) {
	c.mu.Lock()
	// unrecord: what Redis holds of them as failures goes (runtime.go), once they left this node.
	var stop, forget, release, unrecord []string
	left := map[string]uint64{} // what they leave behind, kept until their stop returned (leaving.go)
	for id, st := range c.modules {
		_, ok := want[id]
		if st.running && mustStop(want, id) {
			stop = append(stop, id)
			if !ok && !st.refusedAt.IsZero() { // stopHere cannot tell once its state is gone
				unrecord = append(unrecord, id)
			}
		} else if !ok {
			forget = append(forget, id) // never started, or its start failed
			if st.startFailed {
				release = append(release, id)
			}
			if st.notBuilt {
				unrecord = append(unrecord, id)
			}
		}
		if !ok {
			left[id] = c.leaveLocked(id, st)
			delete(c.modules, id)
		}
	}
	c.mu.Unlock()

	for _, id := range stop {
		c.stopHere(ctx, id)
	}
	for _, id := range release {
		if err := c.sup.Stop(ctx, id); err != nil && !errors.Is(err, supervisor.ErrModuleNotRunning) && !isCanceled(ctx, err) {
			c.log.Warn("releasing a module whose start failed", "module", id, "error", err)
		}
		c.forgetStartFailure(ctx, id)
	}
	for _, id := range unrecord {
		c.forgetStartFailure(ctx, id)
	}
	for id, gen := range left {
		c.settleLeft(id, gen)
	}
	// Gone: Redis keeps its status, but this node no longer writes it back.
	for _, id := range forget {
		c.cfg.State.Unhost(id)
		c.gates.forget(id)
	}
	// Deleted from the model: after the stops above, so nothing set while stopping outlives it.
	c.forgetDeleted(ctx, m, v)
}

// beginWanted begins the start, update or move of every module of want that is not running as
// wanted, at most Config.Parallel at once, and returns the operations begun.
func (c *Core) beginWanted(ctx context.Context, m *model.Model, want map[string]desired) []*moduleOp {
	// The pass's own bound on operations at once: those an earlier pass left in flight do not
	// hold this one's.
	sem := make(chan struct{}, c.cfg.Parallel)
	var ops []*moduleOp
	for id, w := range want {
		c.mu.Lock()
		st := c.modules[id]
		if st == nil {
			st = &moduleState{}
			c.modules[id] = st
		}
		if st.op != nil {
			c.mu.Unlock()
			continue // its end asks for another pass, which looks at it again
		}
		running := st.running
		same := running && st.binary == w.binary && st.config != nil && gproto.Equal(st.config, w.config)
		moved := running && w.err == nil && st.binary != w.binary
		c.mu.Unlock()
		if w.err != nil {
			if !running {
				c.notStarted(ctx, id, w)
			}
			continue
		}
		if same {
			continue
		}
		// The driver is about to be called: from then on what it says is scrubbed (scrub.go).
		// Only here, as the values change only with the config: opening them in every pass
		// would decrypt each protected value twice a pass. moduleConfig opened the very same
		// values with the same key, so this cannot fail.
		w.secrets, _ = m.Secrets(m.Modules[id], c.cfg.Secrets)
		level := m.SecretLevel(m.Modules[id])
		c.setSecrets(id, w.secrets, level)
		ops = append(ops, c.beginOp(ctx, id, sem, func(ctx context.Context) {
			switch {
			case moved:
				c.moveModule(ctx, w)
			case running:
				c.updateModule(ctx, w)
			default:
				c.startModule(ctx, w)
			}
		}))
	}
	return ops
}

// desired lists the modules this node should run (running and owned here), with their start
// payload or why it cannot be built.
func (c *Core) desired(ctx context.Context, m *model.Model, v *view) map[string]desired {
	out := map[string]desired{}
	infos := newModuleInfos(ctx, m, c.cfg.State, &c.fnCache, c.infoKnown, c.log)
	for id, mod := range m.Modules {
		if !mod.Running || !c.owns(v, id) {
			continue
		}
		var w desired
		w.binary, w.err = c.binaryPath(m, m.Drivers[mod.DriverID])
		w.unbuilt = w.err != nil && !errors.Is(w.err, ErrBuilding)
		if w.err == nil {
			c.recordDriverLimit(w.binary, m.Drivers[mod.DriverID].MemoryLimit)
			w.config, w.err = moduleConfig(m, mod, c.cfg.Secrets, infos)
		}
		if w.err == nil && infos.stale(mod.ControlSystemID) {
			w.config = c.keepSystem(id, w.config)
		}
		out[id] = w
	}
	c.infoWatched.Store(&infos.watched)
	c.infoKnown = infos.memo()
	return out
}

// keepSystem is cfg with the control system the running module has, when it has one: its
// system's module_info could not be read in full this pass.
func (c *Core) keepSystem(id string, cfg *proto.Module) *proto.Module {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.modules[id]; st != nil && st.running && st.config != nil {
		cfg.ControlSystemJson = st.config.ControlSystemJson
	}
	return cfg
}

func (c *Core) setModule(id string, fn func(*moduleState)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.modules[id]; st != nil {
		fn(st)
	}
}

// notStarted keeps why a module this node should run cannot be started; one whose driver has
// not built is recorded in Redis like a failed start, so that a read of it on any node can say
// it does not run (docs/protocol.md §9.5).
func (c *Core) notStarted(ctx context.Context, id string, w desired) {
	var since time.Time
	c.setModule(id, func(st *moduleState) {
		st.err, st.config = w.err, w.config
		if w.unbuilt && !st.notBuilt {
			st.notBuilt, st.failedAt = true, time.Now()
		}
		since = st.failedAt
	})
	if w.unbuilt {
		c.recordStartFailure(ctx, id, since, w.err, true)
	}
}

// stopHere stops a module this node runs (or holds after a failed start): its driver lets it go,
// and Redis keeps its status, which this node no longer writes back.
func (c *Core) stopHere(ctx context.Context, id string) {
	if err := c.sup.Stop(ctx, id); err != nil && !errors.Is(err, supervisor.ErrModuleNotRunning) && !isCanceled(ctx, err) {
		c.log.Warn("stopping module failed", "module", id, "error", err)
	}
	c.setModule(id, func(st *moduleState) { st.running, st.startFailed = false, false })
	c.clearRefusal(ctx, id) // a module read shows it only while the module runs here
	c.cfg.State.Unhost(id)
	c.gates.forget(id)
}

// stopAll ends every module operation in flight and stops every module this node runs or failed
// to start, and returns how many; a cut-off node and a leaving one let go of all they hold.
func (c *Core) stopAll(ctx context.Context) int {
	c.cancelOps(func(string) bool { return true })
	c.mu.Lock()
	var ids []string
	for id, st := range c.modules {
		if st.running || st.startFailed {
			ids = append(ids, id)
		}
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.stopHere(ctx, id)
	}
	return len(ids)
}

func (c *Core) startModule(ctx context.Context, w desired) {
	id := w.config.Id
	log := c.log.With("module", id, "driver", w.binary)
	hung, err := c.awaitStart(ctx, w)
	err = c.scrubAny(err, w.secrets)
	if err == nil {
		err = c.writeMetadata(ctx, w)
	}
	if err != nil {
		repeat := false
		var since time.Time
		c.setModule(id, func(st *moduleState) {
			repeat = st.startFailed && st.err != nil && st.err.Error() == err.Error()
			if !st.startFailed && !hung { // a hung start set it when it began
				st.failedAt = time.Now()
			}
			st.err, st.startFailed, st.notBuilt, since = err, true, false, st.failedAt
			st.binary = w.binary // the process that holds it for the retry (node status names it)
		})
		switch {
		case isCanceled(ctx, err):
			return
		case repeat: // every pass retries it: the same failure again is not news
			log.Debug("starting module failed again", "error", err)
		default:
			log.Error("starting module failed", "error", err)
		}
		c.recordStartFailure(ctx, id, since, err, false)
		return
	}
	log.Info("module started")
	// A failure or a hang of its own may be in Redis: one of this process (recorded), or of the
	// process before it on this node (a restart), whose record would outlive the start.
	failed := false
	c.setModule(id, func(st *moduleState) {
		failed = !st.clean
		st.binary, st.config, st.running, st.err, st.since = w.binary, w.config, true, nil, time.Now()
		st.startFailed, st.notBuilt = false, false
	})
	if failed {
		c.forgetStartFailure(ctx, id)
	}
}

func (c *Core) updateModule(ctx context.Context, w desired) {
	id := w.config.Id
	log := c.log.With("module", id, "driver", w.binary)
	err := c.sup.Update(ctx, w.config)
	var ref *supervisor.Refusal
	refused := errors.As(err, &ref)  // the driver's own no, not a failure to reach it
	err = c.scrubAny(err, w.secrets) // which keeps no Refusal to find
	if err == nil {
		// The driver runs the new config now, whatever becomes of its metadata: the next pass
		// compares the model with what the driver runs, or a change made and undone while this
		// write failed would never reach the driver.
		c.setModule(id, func(st *moduleState) { st.config = w.config })
		c.clearRefusal(ctx, id)
		err = c.writeMetadata(ctx, w)
	}
	if err != nil {
		repeat := false
		var since time.Time
		c.setModule(id, func(st *moduleState) {
			repeat = st.err != nil && st.err.Error() == err.Error()
			st.err = err
			if refused && st.refusedAt.IsZero() {
				st.refusedAt = time.Now()
			}
			since = st.refusedAt
		})
		switch {
		case isCanceled(ctx, err):
			return
		case repeat:
			// Tried again on every pass: said once, until the error changes.
			log.Debug("updating module failed again", "error", err)
		default:
			log.Error("updating module failed; it is tried again on every pass", "error", err)
		}
		if refused {
			c.recordUpdateRefusal(ctx, id, since, err)
		}
		return
	}
	log.Info("module updated")
	c.setModule(id, func(st *moduleState) { st.config, st.err = w.config, nil })
}

// moveModule moves a running module to a new binary of its driver (a new commit): the new
// process serves it before the old instance stops.
func (c *Core) moveModule(ctx context.Context, w desired) {
	id := w.config.Id
	log := c.log.With("module", id, "driver", w.binary)
	err := c.scrubAny(c.sup.Move(ctx, w.binary, w.config), w.secrets)
	if err == nil {
		err = c.writeMetadata(ctx, w)
	}
	if err != nil {
		if !isCanceled(ctx, err) {
			log.Error("moving module to the new driver binary failed", "error", err)
		}
		c.setModule(id, func(st *moduleState) { st.err = err })
		return
	}
	log.Info("module moved to the new driver binary")
	c.clearRefusal(ctx, id) // the new binary took its settings
	c.setModule(id, func(st *moduleState) {
		st.binary, st.config, st.running, st.err, st.since = w.binary, w.config, true, nil, time.Now()
	})
}

// clearRefusal forgets the refused settings update of module id, if any, once its driver took
// an update or it stopped here.
func (c *Core) clearRefusal(ctx context.Context, id string) {
	refused := false
	c.setModule(id, func(st *moduleState) {
		refused = !st.refusedAt.IsZero()
		st.refusedAt = time.Time{}
	})
	if refused {
		c.forgetStartFailure(ctx, id)
	}
}

func (c *Core) writeMetadata(ctx context.Context, w desired) error {
	meta, err := c.sup.Metadata(ctx, w.binary)
	if err != nil {
		return err
	}
	if meta, err = withNotes(meta, w.config.Notes); err != nil {
		return err
	}
	// Bounded as a status write is: a write a frozen Redis does not take is kept for the
	// write-back, and the start it ends is done.
	ctx, cancel := context.WithTimeout(ctx, statusWriteTimeout)
	defer cancel()
	return c.cfg.State.SetMetadata(ctx, w.config.Id, meta)
}

// reconcileLookups writes the system/<id> hash of every system this node owns whose name table
// changed, and deletes those of removed systems it wrote. The first pass after a start (or after
// gaining a system) writes it unconditionally, so Redis is made true to the model.
func (c *Core) reconcileLookups(ctx context.Context, m *model.Model, v *view) {
	owned := make([]string, 0, len(m.Systems))
	for id := range m.Systems {
		if c.ownsSystem(v, id) {
			owned = append(owned, id)
		}
	}
	// Before any write: the state store keeps (and writes back after a Redis loss) the lookups
	// of these systems only.
	c.cfg.State.OwnSystems(owned)
	for id, sys := range m.Systems {
		if !c.ownsSystem(v, id) {
			c.mu.Lock()
			delete(c.lookups, id) // the new owner writes it from now on
			c.mu.Unlock()
			continue
		}
		want := m.Lookup(sys)
		c.mu.Lock()
		have, ok := c.lookups[id]
		c.mu.Unlock()
		if ok && maps.Equal(have, want) {
			continue
		}
		if err := c.cfg.State.SetLookup(ctx, id, want); err != nil {
			if !isCanceled(ctx, err) {
				c.log.Error("writing system lookup failed", "system", id, "error", err)
			}
			continue
		}
		c.mu.Lock()
		c.lookups[id] = want
		c.mu.Unlock()
	}
	c.mu.Lock()
	var gone []string
	for id := range c.lookups {
		if m.Systems[id] == nil {
			gone = append(gone, id)
		}
	}
	c.mu.Unlock()
	for _, id := range gone {
		if err := c.cfg.State.DeleteLookup(ctx, id); err != nil {
			c.log.Error("deleting system lookup failed", "system", id, "error", err)
			continue
		}
		c.mu.Lock()
		delete(c.lookups, id)
		c.mu.Unlock()
	}
}
