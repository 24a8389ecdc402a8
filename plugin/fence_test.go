package plugin

import (
	"context"
	"sync"
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
	once        sync.Once     // a fence that fired, heard a beat and fired again terminates twice
	release     chan struct{} // closed when the test ends
}

func newHangingDriver(t *testing.T) *hangingDriver {
	d := &hangingDriver{terminating: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(d.release) })
	return d
}

func (d *hangingDriver) Terminate(context.Context, *proto.Empty) (*proto.Empty, error) {
	d.once.Do(func() { close(d.terminating) })
	<-d.release
	return &proto.Empty{}, nil
}

// TestFenceExitsWithinStopTime: heartbeats keep the fence from firing; once they stop, the
// process stops its modules and exits with FencedExitCode within FenceStopTime, even when
// stopping them hangs.
func TestFenceExitsWithinStopTime(t *testing.T) {
	// A loaded machine can stall this process for as long as the fence time between two of the
	// test's own beats, and then the fence is right to fire: such a round proves nothing either
	// way, and the test runs another.
	const after = 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		stall := fenceRound(t, after)
		if stall < after {
			return
		}
		if attempt == 5 {
			t.Fatalf("the test's own heartbeats stalled for the fence time (%s) or more in all %d rounds", after, attempt)
		}
		t.Logf("round %d: the test's own heartbeats stalled for %s, the fence time being %s: another round", attempt, stall.Round(time.Millisecond), after)
	}
}

// fenceRound beats a fence of after for twice that, stops, and checks that it fires and exits
// in time. It returns the longest gap between two of its beats (from the start of one to the
// end of the next: at least what the fence saw); from after on it checked nothing.
func fenceRound(t *testing.T, after time.Duration) (stall time.Duration) {
	d := newHangingDriver(t)
	exits := make(chan int, 2)
	f := &fence{impl: d, log: hclog.NewNullLogger(), exit: func(code int) {
		select { // a stalled round's fence may fire more than once; nobody reads its exits
		case exits <- code:
		default:
		}
	}}
	var silent time.Time // the start of the last heartbeat: the fence runs from it, never earlier
	prev := time.Now()
	f.beat(after)
	for until := time.Now().Add(2 * after); time.Now().Before(until); {
		silent = time.Now()
		f.beat(after)
		stall, prev = max(stall, time.Since(prev)), silent
		select {
		case <-exits:
			if stall >= after {
				f.beat(0)
				return stall
			}
			t.Fatalf("fenced while its heartbeats came (at most %s apart)", stall.Round(time.Millisecond))
		case <-time.After(after / 10): // the heartbeat interval
		}
	}
	if stall >= after {
		f.beat(0)
		return stall
	}
	// Upper bounds with room for a loaded machine: stopping the modules hangs for ever, so a
	// fence that waited for it would never exit.
	select {
	case <-d.terminating:
	case <-time.After(after + 10*time.Second):
		t.Fatal("the modules were not stopped")
	}
	select {
	case code := <-exits:
		if code != FencedExitCode {
			t.Fatalf("exit %d, want %d", code, FencedExitCode)
		}
	case <-time.After(FenceStopTime + 10*time.Second):
		t.Fatal("no exit while stopping the modules hung")
	}
	if took := time.Since(silent); took < after+FenceStopTime {
		t.Fatalf("exited %s after the last heartbeat, before the fence and stop time", took)
	}
	return stall
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
