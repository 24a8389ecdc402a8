package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestFloorPercent(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, tt := range []struct {
		live uint64
		want int
	}{
		{4 * mib, 200}, {3 * mib, 275}, {8 * mib, 100}, {6 * mib, 150}, {100 * mib, 100},
		{mib / 2, gcFloorMaxPercent}, {0, gcFloorMaxPercent},
	} {
		if got := floorPercent(tt.live, 8*mib); got != tt.want {
			t.Errorf("live %d KiB: %d %%, want %d %%", tt.live>>10, got, tt.want)
		}
	}
}

// gcPercent is the collector's target as the runtime has it.
func gcPercent() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// collected runs a collection and waits until the finalizers it queued (the floor's among them)
// have run. The floor's finalizer and the marker run on the one finalizer goroutine in no set
// order: after a second round the floor's from the first one has run.
func collected(t *testing.T) {
	t.Helper()
	for range 2 {
		done := make(chan struct{})
		runtime.SetFinalizer(&sentinel{}, func(*sentinel) { close(done) })
		runtime.GC()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("no finalizer ran after a collection")
		}
	}
}

// The floor raises the target while the live heap is small, gives Go's 100 % back when it is
// large, and changes nothing once stopped. Not parallel: it sets the process's GC target.
func TestGCFloorFollowsTheHeap(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	stop := startGCFloor(64 << 20) // a floor far above this test process's heap
	collected(t)
	if p := gcPercent(); p <= 100 {
		t.Fatalf("small heap: GC percent %d, want it raised", p)
	}
	func() {
		big := make([][]byte, 0, 160)
		for range cap(big) {
			big = append(big, make([]byte, 1<<20)) // 160 MiB live, past the floor
		}
		collected(t)
		if p := gcPercent(); p != 100 {
			t.Fatalf("large heap: GC percent %d, want Go's 100", p)
		}
		runtime.KeepAlive(big)
	}()
	collected(t)
	if p := gcPercent(); p <= 100 {
		t.Fatalf("heap small again: GC percent %d, want it raised", p)
	}
	stop()
	debug.SetGCPercent(123)
	collected(t)
	if p := gcPercent(); p != 123 {
		t.Fatalf("after stop: GC percent %d, want the 123 set by hand", p)
	}
}
