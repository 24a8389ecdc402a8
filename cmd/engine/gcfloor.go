package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// gcFloor is --gc-percent auto's garbage collector target: Go's 100 %, raised while the live heap
// is small so that the heap may always grow by at least gcFloorMin between collections. With 100 %
// alone a node's small live heap (a few MiB) is collected after every few MiB allocated, dozens
// of times a second under load, each time marking the whole live heap again: measured with
// BenchmarkExecuteSettings (GC percent 200 and 400, the floor's choices at a 4 MiB heap, against
// 100: REST execute 5–7 % faster at 32 clients, level at 1 client, for 4 and 12 MiB more RSS).
// Past gcFloorMin of live heap the target is Go's 100 % again, so a large node spends no more memory on
// it than Go would.
//
// It runs after each collection (a finalizer, re-armed every time: no goroutine of its own) and
// changes the target only when the rounded percentage changes.
type gcFloor struct {
	growth  uint64
	stopped atomic.Bool
	percent int
	sample  []metrics.Sample
}

// gcFloorMin is the least heap growth between collections --gc-percent auto allows.
const gcFloorMin = 8 << 20

// gcFloorMaxPercent bounds the raised target (an almost empty heap).
const gcFloorMaxPercent = 800

// startGCFloor sets the target for the live heap now and after every collection until stop.
func startGCFloor(growth uint64) (stop func()) {
	debug.SetGCPercent(100)
	f := &gcFloor{growth: growth, percent: 100, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	f.adjust()
	f.arm()
	return func() { f.stopped.Store(true) }
}

// sentinel is what the finalizer hangs on: 16 bytes, so not in the tiny allocator's blocks
// (whose finalizers may never run).
type sentinel struct{ _ [16]byte }

func (f *gcFloor) arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		if f.stopped.Load() {
			return
		}
		f.adjust()
		f.arm()
	})
}

func (f *gcFloor) adjust() {
	metrics.Read(f.sample)
	if f.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	p := floorPercent(f.sample[0].Value.Uint64(), f.growth)
	if p != f.percent {
		debug.SetGCPercent(p)
		f.percent = p
	}
}

// floorPercent is the GC percentage that lets a live heap grow by at least min: 100 or more,
// at most gcFloorMaxPercent, rounded up to a multiple of 25 (so that small swings of the live
// heap do not change it).
func floorPercent(live, growth uint64) int {
	if live == 0 {
		return gcFloorMaxPercent
	}
	p := (growth*100 + live - 1) / live
	p = (p + 24) / 25 * 25
	return int(max(100, min(p, gcFloorMaxPercent)))
}
