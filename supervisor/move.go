package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/placeos-go/engine/plugin/proto"
)

// Move moves a running module to another driver binary (a new commit of its driver) without a
// gap in service: the new process is launched and the module started in it while the old
// instance keeps answering; then calls switch to the new instance, the calls still running on
// the old one are allowed to finish, and the old instance is stopped (its process terminated
// when it was the last module). A module not running yet is simply started.
func (s *Supervisor) Move(ctx context.Context, binary string, m *pb.Module) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	old := s.modules[m.GetId()]
	if old == nil || old.d.binary == binary {
		s.mu.Unlock()
		return s.Start(ctx, binary, m)
	}
	d := s.driverLocked(binary)
	release := d.hold()
	// The old driver too: emptied by the switch, its probe would retire it, ending the calls
	// the move lets finish.
	releaseOld := old.d.hold()
	s.mu.Unlock()
	defer release()
	defer releaseOld()
	last, err := s.moveTo(ctx, d, old, proto.Clone(m).(*pb.Module), false)
	if err == nil {
		s.log.Info("module moved to a new driver binary", "module", m.Id, "from", old.d.binary, "to", binary)
	}
	if last {
		return errors.Join(err, old.d.close(ctx))
	}
	return err
}

// moveTo moves module instance old into driver d with configuration cfg, as Move describes.
// follow: cfg is old's own configuration (a reload), so an Update that reached old meanwhile is
// sent to the new instance too rather than lost. The caller holds d (hold). last: old was the
// last module of its driver, whose process the caller ends (old.d.close) once every module it
// moved has its calls finished; the others are stopped in it here.
func (s *Supervisor) moveTo(ctx context.Context, d *driver, old *module, cfg *pb.Module, follow bool) (last bool, err error) {
	id := old.id
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	p, err := d.await(ctx)
	if err != nil {
		return false, fmt.Errorf("move %s to %s: %w", id, d.binary, err)
	}
	next := &module{id: id, d: d, cfg: cfg}
	p.guard.admit(next)
	cctx, ccancel := p.callCtx(ctx)
	_, err = p.rpc.Start(cctx, &pb.StartRequest{Module: cfg})
	ccancel()
	if err != nil {
		return false, p.callErr(ctx, err, "move: start "+id)
	}
	next.gen, next.sent = p.gen, cfg
	next.started.Store(true)

	s.mu.Lock()
	if s.modules[id] != old { // stopped or moved meanwhile: undo
		s.mu.Unlock()
		cctx, ccancel := p.callCtx(ctx)
		_, _ = p.rpc.Stop(cctx, &pb.ModuleRequest{ModuleId: id})
		ccancel()
		p.guard.leave(next)
		return false, fmt.Errorf("%w: %s changed while moving", ErrModuleNotRunning, id)
	}
	if follow {
		next.cfg = old.cfg
	}
	s.modules[id] = next
	d.modules[id] = next
	delete(old.d.modules, id)
	last = len(old.d.modules) == 0
	if last && s.drivers[old.d.binary] == old.d {
		delete(s.drivers, old.d.binary)
	}
	oldProc := old.d.proc
	s.mu.Unlock()

	if next.cfg != cfg {
		if err := s.startOn(ctx, p, next); err != nil {
			return last, err
		}
	}
	if s.hasListeners(id) {
		cctx, ccancel := p.callCtx(ctx)
		_, _ = p.rpc.Debug(cctx, &pb.ModuleRequest{ModuleId: id})
		ccancel()
	}
	// Let calls already running on the old instance finish before it stops.
	for old.inflight.Load() > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if last {
		return true, nil
	}
	old.op.Lock()
	defer old.op.Unlock()
	if oldProc == nil {
		return false, nil
	}
	defer oldProc.guard.leave(old)
	if old.gen == oldProc.gen && !oldProc.hasExited() {
		cctx, ccancel := oldProc.callCtx(ctx)
		defer ccancel()
		if _, err := oldProc.rpc.Stop(cctx, &pb.ModuleRequest{ModuleId: id}); err != nil && !oldProc.hasExited() {
			return false, oldProc.callErr(ctx, err, "move: stop old "+id)
		}
	}
	return false, nil
}
