package supervisor

import (
	"context"
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
	s.mu.Unlock()
	defer release()

	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	p, err := d.await(ctx)
	if err != nil {
		return fmt.Errorf("move %s to %s: %w", m.Id, binary, err)
	}
	cfg := proto.Clone(m).(*pb.Module)
	next := &module{id: m.Id, d: d, cfg: cfg}
	p.guard.admit(next)
	cctx, ccancel := p.callCtx(ctx)
	_, err = p.rpc.Start(cctx, &pb.StartRequest{Module: cfg})
	ccancel()
	if err != nil {
		return p.callErr(ctx, err, "move: start "+m.Id)
	}
	next.gen, next.sent = p.gen, cfg
	next.started.Store(true)

	s.mu.Lock()
	if s.modules[m.Id] != old { // stopped or moved meanwhile: undo
		s.mu.Unlock()
		cctx, ccancel := p.callCtx(ctx)
		_, _ = p.rpc.Stop(cctx, &pb.ModuleRequest{ModuleId: m.Id})
		ccancel()
		p.guard.leave(next)
		return fmt.Errorf("%w: %s changed while moving", ErrModuleNotRunning, m.Id)
	}
	s.modules[m.Id] = next
	d.modules[m.Id] = next
	delete(old.d.modules, m.Id)
	last := len(old.d.modules) == 0
	if last {
		delete(s.drivers, old.d.binary)
	}
	oldProc := old.d.proc
	s.mu.Unlock()
	s.log.Info("module moved to a new driver binary", "module", m.Id, "from", old.d.binary, "to", binary)

	if s.hasListeners(m.Id) {
		cctx, ccancel := p.callCtx(ctx)
		_, _ = p.rpc.Debug(cctx, &pb.ModuleRequest{ModuleId: m.Id})
		ccancel()
	}
	// Let calls already running on the old instance finish before it stops.
	for old.inflight.Load() > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if last {
		return old.d.close(ctx)
	}
	old.op.Lock()
	defer old.op.Unlock()
	if oldProc == nil {
		return nil
	}
	defer oldProc.guard.leave(old)
	if old.gen == oldProc.gen && !oldProc.hasExited() {
		cctx, ccancel := oldProc.callCtx(ctx)
		defer ccancel()
		if _, err := oldProc.rpc.Stop(cctx, &pb.ModuleRequest{ModuleId: m.Id}); err != nil && !oldProc.hasExited() {
			return oldProc.callErr(ctx, err, "move: stop old "+m.Id)
		}
	}
	return nil
}
