package plugin

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/plugin/proto"
)

// hangingDriver's Terminate never returns: a module whose OnUnload waits on the frozen host.
// The fence calls nothing else of it.
type hangingDriver struct {
	Driver
	terminating chan struct{}
	release     chan struct{} // closed when the test ends
}

func newHangingDriver(t *testing.T) *hangingDriver {
	d := &hangingDriver{terminating: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(d.release) })
	return d
}

func (d *hangingDriver) Terminate(context.Context, *proto.Empty) (*proto.Empty, error) {
	close(d.terminating)
	<-d.release
	return &proto.Empty{}, nil
}

// TestFenceExitsWithinStopTime: heartbeats keep the fence from firing; once they stop, the
// process stops its modules and exits with FencedExitCode within FenceStopTime, even when
// stopping them hangs.
func TestFenceExitsWithinStopTime(t *testing.T) {
	// Long enough that a loaded machine's stall between two beats does not fire it.
	const after = 500 * time.Millisecond
	d := newHangingDriver(t)
	exits := make(chan int, 2)
	f := &fence{impl: d, log: hclog.NewNullLogger(), exit: func(code int) { exits <- code }}
	f.beat(after)
	var silent time.Time // the last heartbeat: the fence runs from it, never earlier
	for until := time.Now().Add(2 * after); time.Now().Before(until); {
		silent = time.Now()
		f.beat(after)
		select {
		case <-exits:
			t.Fatal("fenced while its heartbeats came")
		case <-time.After(after / 10): // the heartbeat interval
		}
	}
	select {
	case <-d.terminating:
	case <-time.After(after + time.Second):
		t.Fatal("the modules were not stopped")
	}
	select {
	case code := <-exits:
		if code != FencedExitCode {
			t.Fatalf("exit %d, want %d", code, FencedExitCode)
		}
	case <-time.After(FenceStopTime + time.Second):
		t.Fatal("no exit while stopping the modules hung")
	}
	if took := time.Since(silent); took < after+FenceStopTime {
		t.Fatalf("exited %s after the last heartbeat, before the fence and stop time", took)
	}
}

// TestFenceDisarmed: a heartbeat naming no fence time disarms the watchdog.
func TestFenceDisarmed(t *testing.T) {
	exits := make(chan int, 2)
	f := &fence{impl: newHangingDriver(t), log: hclog.NewNullLogger(), exit: func(code int) { exits <- code }}
	f.beat(500 * time.Millisecond)
	f.beat(0)
	select {
	case code := <-exits:
		t.Fatalf("a disarmed fence exited with %d", code)
	case <-time.After(time.Second): // twice the fence time it had
	}
}

// TestFenceMessageBlamesTheRightProcess: a fence timer that fired on time says the engine was
// silent; one that fired far later than set says this process itself was stopped (the engine may
// well have sent its heartbeats meanwhile).
func TestFenceMessageBlamesTheRightProcess(t *testing.T) {
	const after = 1500 * time.Millisecond
	if got := fenceMessage(after+10*time.Millisecond, after); got != "engine silent for 1.5s: stopping modules and exiting (fenced)" {
		t.Errorf("on time: %q", got)
	}
	if got := fenceMessage(7*time.Second, after); got != "no heartbeat from the engine for 7s, though the fence was 1.5s: this driver process was itself stopped or starved; stopping modules and exiting (fenced)" {
		t.Errorf("late: %q", got)
	}
}
