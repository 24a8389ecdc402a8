package plugin

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/plugin/proto"
)

// Fencing. A host that stops running (SIGSTOP, a long pause of its VM, a suspended machine)
// cannot stop its driver processes, and they go on talking to their devices while other nodes of
// the cluster, hearing nothing from the host, start the same modules: two connections fight over
// one device. So a host that fences sends each process a Heartbeat naming the fence time, and a
// process served by Serve that then hears none for that long stops its modules (the Driver's
// Terminate, within FenceStopTime) and exits with FencedExitCode. The fence is armed by the first
// heartbeat: a host that sends none (an older engine, --stop-when-cut-off=false) is never fenced
// against.

// FencedExitCode is the exit status of a driver process that fenced itself; the host tells it
// from a crash by it.
const FencedExitCode = 4

// FenceStopTime bounds how long a fenced process spends stopping its modules before it exits
// anyway. A host that must have the process gone within D after its last heartbeat sends a fence
// time of D - FenceStopTime.
const FenceStopTime = 500 * time.Millisecond

// fence is a process's watchdog on its host's heartbeats.
type fence struct {
	impl Driver
	log  hclog.Logger
	exit func(code int)

	mu    sync.Mutex
	timer *time.Timer
	after time.Duration
	last  time.Time // the last heartbeat
}

// beat restarts the watchdog for after (0 or less disarms it).
func (f *fence) beat(after time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.after, f.last = after, time.Now()
	switch {
	case after <= 0:
		if f.timer != nil {
			f.timer.Stop()
		}
	case f.timer == nil:
		f.timer = time.AfterFunc(after, f.fire)
	default:
		f.timer.Reset(after)
	}
}

// fenceMessage is the line a fenced process writes: a timer that fired far later than it was set
// for means this process itself was stopped or starved (SIGSTOP, swapping), not only its engine.
func fenceMessage(silent, after time.Duration) string {
	if silent > after+time.Second {
		return "no heartbeat from the engine for " + silent.Round(time.Millisecond).String() + ", though the fence was " + after.String() +
			": this driver process was itself stopped or starved; stopping modules and exiting (fenced)"
	}
	return "engine silent for " + after.String() + ": stopping modules and exiting (fenced)"
}

// fire fences the process. The exit comes after FenceStopTime whatever the stop does: a module's
// OnUnload may wait on the silent host, and so may a write to stderr (the host reads that pipe).
func (f *fence) fire() {
	f.mu.Lock()
	silent := time.Since(f.last)
	after := f.after
	f.mu.Unlock()
	time.AfterFunc(FenceStopTime, func() { f.exit(FencedExitCode) })
	f.log.Error(fenceMessage(silent, after))
	ctx, cancel := context.WithTimeout(context.Background(), FenceStopTime)
	defer cancel()
	_, _ = f.impl.Terminate(ctx, &proto.Empty{})
	f.exit(FencedExitCode)
}
