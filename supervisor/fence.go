package supervisor

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/plugin"
	pb "github.com/placeos-go/engine/plugin/proto"
)

// heartbeat sends p a Heartbeat every HeartbeatInterval until done or p's exit, so that p fences
// itself (plugin's fence.go) when this engine stops running. It is a goroutine of its own per
// process and takes no lock: a heartbeat late for a reason other than a stalled engine (a
// supervisor lock held across a slow call) would fence a healthy process. Each call is bounded
// by the interval, so one lost call does not delay the next.
func (d *driver) heartbeat(p *process, done <-chan struct{}) {
	cfg := d.s.cfg
	req := &pb.HeartbeatRequest{FenceMs: cfg.FenceAfter.Milliseconds()}
	t := time.NewTicker(cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		if cfg.heartbeatsPaused == nil || !cfg.heartbeatsPaused.Load() {
			ctx, cancel := context.WithTimeout(p.ctx, cfg.HeartbeatInterval)
			_, err := p.rpc.Heartbeat(ctx, req)
			cancel()
			if err == nil && cfg.heartbeatsAnswered != nil {
				cfg.heartbeatsAnswered.Add(1)
			}
			if status.Code(err) == codes.Unimplemented {
				d.log.Info("driver process predates heartbeats: it keeps running if this engine stalls (no fence)", "pid", p.pid)
				return
			}
		}
		if !nextTick(t, p, done) {
			return
		}
	}
}

// awaitContact holds the relaunch of a process that fenced itself until a leader has reached the
// node since (Config.InContact): an engine that resumes after the others took its modules over
// learns that it was cut off, or from the leader's log that they moved, and stops them; a
// relaunch before that would start them next to their new owners. false: the driver was stopped
// meanwhile.
func (d *driver) awaitContact() bool {
	in := d.s.cfg.InContact
	if in == nil {
		return true
	}
	since := time.Now()
	t := time.NewTicker(contactPoll)
	defer t.Stop()
	for !in(since) {
		select {
		case <-d.stop:
			return false
		case <-t.C:
		}
	}
	return true
}

// contactPoll is how often awaitContact asks.
const contactPoll = 50 * time.Millisecond

// fenced says why p exited when it fenced itself, "" when it did not.
func (d *driver) fenced(code int) string {
	if d.s.cfg.FenceAfter <= 0 || code != plugin.FencedExitCode {
		return ""
	}
	return fmt.Sprintf("fenced: the driver heard no heartbeat from this engine for %s (this engine or the driver process was stalled: the driver's own last line says which) and stopped its modules", d.s.cfg.FenceAfter)
}
