package supervisor

import (
	"context"
	"fmt"
	"slices"
	"time"

	pb "github.com/placeos-go/engine/plugin/proto"
)

// Spare processes (Config.Spare). A relaunch after a crash costs the driver's modules a process
// start (exec, the Go runtime's start, go-plugin's handshake, Init: 10–45 ms on a 2-CPU node,
// more when it is loaded) before their own Starts. So a driver whose process has run StableAfter
// gets one more process of its binary, launched and initialised but with no module: the spare.
// When the process exits unexpectedly, the spare takes its place at once and only the modules'
// Starts remain. The next spare comes once the new process has run StableAfter in its turn, so a
// crash loop uses at most one and then relaunches with backoff as before.
//
// A spare is the driver's own: it gets no heartbeat (its fence is not armed, and it has no module
// to stop), the keeper probes it as the driver's probe does the process, and it is stopped with
// the driver. One that exits or hangs meanwhile, or fails its launch, is logged and tried again
// with a backoff from StableAfter (spareretry.go).
// A spare launched before its binary was replaced on disk or before its memory limit or
// environment changed is not used: those apply from the driver's next launch.

// spareLaunchHint goes with a spare's failed launch, for the driver's author.
const spareLaunchHint = "a spare runs the driver's main beside its running process: what main takes before sdk.Serve " +
	"(a fixed listening port, a lock file, a serial port) must not be exclusive (DRIVERS.md §7, \"Two processes of your driver\")"

// spareProc is a driver's spare process; taken is closed when the driver takes it.
type spareProc struct {
	p     *process
	taken chan struct{}
}

// keepSpare keeps d a spare process until d stops. It runs for as long as d.run does.
func (d *driver) keepSpare() {
	s := d.s
	var b spareBackoff
	for d.awaitSpareWanted() {
		s.mu.Lock()
		s.gen++
		gen := s.gen
		s.mu.Unlock()
		b.noteConfig(d)
		p, err := s.launch(d, gen, &d.spareLaunching)
		if err != nil {
			if d.stopping() {
				return
			}
			d.setSpareError("launch failed: " + err.Error())
			// The driver's own process launched, so what failed is most likely what its main
			// takes before serving that a second process cannot take too: say where to look.
			wait := d.spareFailed(&b, spareLaunchFailed, spareLaunchFailedAgain, "error", err, "hint", spareLaunchHint)
			if !d.sparePause(&b, wait) {
				return
			}
			continue
		}
		sp := &spareProc{p: p, taken: make(chan struct{})}
		s.mu.Lock()
		stopped := d.stopping()
		if !stopped {
			d.spare, d.spareError = sp, ""
		}
		s.mu.Unlock()
		if stopped {
			d.shutdown(p)
			return
		}
		d.log.Info("spare driver process ready", "pid", p.pid)
		if !d.watchSpare(sp, &b) {
			return
		}
	}
}

// awaitSpareWanted waits until d has no spare and its process has run StableAfter; false once d
// stops.
func (d *driver) awaitSpareWanted() bool {
	s := d.s
	for {
		s.mu.Lock()
		up := d.spare == nil && d.proc != nil && d.ready
		var wait time.Duration
		if up {
			wait = time.Until(d.proc.started.Add(s.cfg.StableAfter))
		}
		ch := d.changed
		s.mu.Unlock()
		if up && wait <= 0 {
			return true
		}
		var stable <-chan time.Time
		var t *time.Timer
		if up {
			t = time.NewTimer(wait)
			stable = t.C
		}
		select {
		case <-d.stop:
			return false
		case <-ch:
		case <-stable:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// watchSpare holds sp until d takes it (true), it exits or stops answering (true, after the
// backoff's pause), or d stops (false, having stopped it).
func (d *driver) watchSpare(sp *spareProc, b *spareBackoff) bool {
	s := d.s
	ready := time.Now()
	t := time.NewTicker(s.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-sp.taken:
			b.reset() // it did its job
			return true
		case <-d.stop:
			if d.dropSpare(sp) {
				d.shutdown(sp.p)
			}
			return false
		case <-sp.p.exited():
			if !d.dropSpare(sp) {
				b.reset()
				return true // taken as it exited: the driver's process now, and its exit is a crash
			}
			if time.Since(ready) >= s.cfg.StableAfter {
				b.reset() // a spare that served its time is no failure in a row
			}
			exitStatus, _, _ := sp.p.exitStatus()
			reason, _ := sp.p.exitReason("")
			d.setSpareError("exited: " + reason)
			wait := d.spareFailed(b, spareExited, spareExitedAgain, "pid", sp.p.pid, "exit_status", exitStatus, "reason", reason)
			d.bury(sp.p)
			return d.sparePause(b, wait)
		case <-t.C:
			ctx, cancel := context.WithTimeout(sp.p.ctx, s.cfg.ProbeTimeout)
			_, err := sp.p.rpc.Info(ctx, &pb.Empty{})
			cancel()
			if err != nil && !sp.p.hasExited() {
				// Its exit, next, is logged and replaced as any spare's.
				sp.p.kill(fmt.Sprintf("unresponsive spare: Info probe got no answer within %s", s.cfg.ProbeTimeout))
			}
		}
	}
}

// setSpareError records why d has no spare, for its status until the next spare is ready.
func (d *driver) setSpareError(why string) {
	d.s.mu.Lock()
	d.spareError = why
	d.s.mu.Unlock()
}

// dropSpare removes sp from d unless d took it meanwhile; true: it was still d's spare.
func (d *driver) dropSpare(sp *spareProc) bool {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.spare != sp {
		return false
	}
	d.spare = nil
	return true
}

// stopping reports whether d has been told to stop.
func (d *driver) stopping() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

// takeSpare hands d's spare over to be its process (nil: none, or one not fit to be used).
func (d *driver) takeSpare() *process {
	s := d.s
	s.mu.Lock()
	sp := d.spare
	d.spare = nil
	s.mu.Unlock()
	if sp == nil {
		return nil
	}
	close(sp.taken)
	if why := d.spareUnfit(sp.p); why != "" {
		d.log.Info("spare driver process not used: "+why, "pid", sp.p.pid)
		s.wg.Go(func() { d.shutdown(sp.p) }) // not on the relaunch's way
		return nil
	}
	// Its run as the driver's process starts now: uptime, stability and launch time count from
	// here, not from its launch as a spare.
	sp.p.started, sp.p.spare = time.Now(), true
	return sp.p
}

// spareUnfit says why p, launched as a spare, must not become the driver's process ("": it may).
func (d *driver) spareUnfit(p *process) string {
	cfg := d.s.cfg
	switch {
	case p.hasExited():
		return "it exited"
	case cfg.MemoryLimit != nil && cfg.MemoryLimit(d.binary) != p.memLimit:
		return "the driver's memory limit changed since its launch"
	case cfg.Env != nil && !slices.Equal(cfg.Env(d.binary), p.env):
		return "the driver's environment changed since its launch"
	}
	if _, replaced := p.binaryReplaced(); replaced {
		return "the binary was replaced on disk since its launch"
	}
	return ""
}
