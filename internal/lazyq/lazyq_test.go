package lazyq

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

const consumeFn = "lazyq.(*Queue[...]).consume"

func waitConsumers(t *testing.T, want int) {
	t.Helper()
	testutil.WaitGoroutines(t, 5*time.Second, consumeFn, want)
}

// recorder handles ints, recording them; block, when set, holds each Handle until released.
type recorder struct {
	mu    sync.Mutex
	got   []int
	block chan struct{}
}

func (r *recorder) handle(v int) {
	if r.block != nil {
		<-r.block
	}
	r.mu.Lock()
	r.got = append(r.got, v)
	r.mu.Unlock()
}

func (r *recorder) items() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.got...)
}

func TestOrderAndIdleEnd(t *testing.T) {
	var r recorder
	var wg sync.WaitGroup
	var q Queue[int]
	q.Init(Config[int]{Limit: 1000, Handle: r.handle, WG: &wg})
	for i := range 1000 {
		if !q.Push(i) {
			t.Fatalf("push %d refused below the limit", i)
		}
	}
	wg.Wait() // the consumer ends by itself once the queue is empty
	got := r.items()
	if len(got) != 1000 {
		t.Fatalf("handled %d items, want 1000", len(got))
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("item %d is %d: out of order", i, v)
		}
	}
	waitConsumers(t, 0) // Done runs in the consumer's last deferred call: it may still be returning
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ring != nil {
		t.Fatalf("an idle queue keeps a ring of %d", len(q.ring))
	}
}

func TestLimitCountsWaitingItems(t *testing.T) {
	r := recorder{block: make(chan struct{})}
	var q Queue[int]
	q.Init(Config[int]{Limit: 3, Handle: r.handle})
	q.Push(0)
	// The consumer takes 0 and blocks in Handle: 3 more may wait, the fifth is refused.
	testutil.Eventually(t, 5*time.Second, "the consumer to take the first item", func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.busy
	})
	for i := 1; i <= 3; i++ {
		if !q.Push(i) {
			t.Fatalf("push %d refused", i)
		}
	}
	if q.Push(4) {
		t.Fatal("push past the limit accepted")
	}
	if got := q.Pending(); got != 4 {
		t.Fatalf("Pending = %d, want 4 (3 waiting, 1 being handled)", got)
	}
	close(r.block)
	waitConsumers(t, 0)
	if got := r.items(); len(got) != 4 || got[3] != 3 {
		t.Fatalf("handled %v, want [0 1 2 3]", got)
	}
	if q.Pending() != 0 {
		t.Fatalf("Pending = %d after the queue drained", q.Pending())
	}
}

// TestLingerKeepsOneConsumer: items spaced closer than Linger are handled by one goroutine,
// which ends once they stop.
func TestLingerKeepsOneConsumer(t *testing.T) {
	var r recorder
	var wg sync.WaitGroup
	var q Queue[int]
	goroutines := map[string]bool{} // the goroutines that handled items, by their stack's header
	q.Init(Config[int]{Limit: 10, Linger: time.Minute, WG: &wg, Handle: func(v int) {
		buf := make([]byte, 64)
		header, _, _ := strings.Cut(string(buf[:runtime.Stack(buf, false)]), "[")
		r.mu.Lock()
		goroutines[header] = true
		r.mu.Unlock()
		r.handle(v)
	}})
	for i := range 20 {
		q.Push(i)
		// Wait until the item is handled, so every push finds the consumer lingering.
		testutil.Eventually(t, 5*time.Second, "the item handled", func() bool { return len(r.items()) == i+1 })
		testutil.Eventually(t, 5*time.Second, "the consumer to linger", func() bool {
			q.mu.Lock()
			defer q.mu.Unlock()
			return q.waiting
		})
		waitConsumers(t, 1) // the one lingering
	}
	r.mu.Lock()
	if len(goroutines) != 1 {
		t.Errorf("items handled by %d goroutines, want 1", len(goroutines))
	}
	r.mu.Unlock()
	q.Stop(nil)
	wg.Wait()
	waitConsumers(t, 0)
}

// TestLingerEnds: a consumer with a short linger ends on its own after the last item.
func TestLingerEnds(t *testing.T) {
	var r recorder
	var wg sync.WaitGroup
	var q Queue[int]
	q.Init(Config[int]{Limit: 10, Linger: 20 * time.Millisecond, Handle: r.handle, WG: &wg})
	q.Push(1)
	q.Push(2)
	wg.Wait()
	if got := r.items(); len(got) != 2 {
		t.Fatalf("handled %v", got)
	}
	// And it starts again for the next item.
	q.Push(3)
	wg.Wait()
	if got := r.items(); len(got) != 3 || got[2] != 3 {
		t.Fatalf("handled %v after a restart", got)
	}
}

// TestStopRunsFinalOnceAfterHandle: final waits for the item being handled, the waiting items
// are dropped, later pushes are ignored, and final runs even when no consumer was running.
func TestStopRunsFinalOnceAfterHandle(t *testing.T) {
	r := recorder{block: make(chan struct{})}
	var finals atomic.Int32
	var handling atomic.Bool
	var wg sync.WaitGroup
	var q Queue[int]
	q.Init(Config[int]{Limit: 10, WG: &wg, Handle: func(v int) {
		handling.Store(true)
		r.handle(v)
		handling.Store(false)
	}})
	final := func() {
		if handling.Load() {
			t.Error("final ran while Handle was running")
		}
		finals.Add(1)
	}
	q.Push(1)
	q.Push(2)
	testutil.Eventually(t, 5*time.Second, "the consumer to take the first item", func() bool { return handling.Load() })
	q.Stop(final)
	q.Stop(final)
	if !q.Push(3) {
		t.Fatal("a stopped queue reported full")
	}
	if finals.Load() != 0 {
		t.Fatal("final ran before Handle returned")
	}
	close(r.block)
	wg.Wait()
	if got := r.items(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("handled %v, want [1] (2 dropped by Stop, 3 pushed after it)", got)
	}
	if finals.Load() != 1 {
		t.Fatalf("final ran %d times", finals.Load())
	}

	// No consumer running: Stop starts one for final.
	var idle Queue[int]
	idle.Init(Config[int]{Limit: 1, WG: &wg, Handle: func(int) {}})
	idle.Stop(final)
	wg.Wait()
	if finals.Load() != 2 {
		t.Fatal("final did not run for a queue stopped while idle")
	}
}

// TestStopFromHandle: Handle may stop its own queue; nothing after it is handled.
func TestStopFromHandle(t *testing.T) {
	var r recorder
	var wg sync.WaitGroup
	var q Queue[int]
	done := make(chan struct{})
	q.Init(Config[int]{Limit: 10, WG: &wg, Handle: func(v int) {
		r.handle(v)
		if v == 1 {
			q.Stop(func() { close(done) })
		}
	}})
	for i := range 5 {
		q.Push(i)
	}
	<-done
	wg.Wait()
	if got := r.items(); len(got) != 2 {
		t.Fatalf("handled %v, want [0 1]", got)
	}
}

// TestBurstRingShrinks: a ring a burst grew is given back once the burst is handled, while the
// consumer lingers.
func TestBurstRingShrinks(t *testing.T) {
	r := recorder{block: make(chan struct{})}
	var wg sync.WaitGroup
	var q Queue[int]
	q.Init(Config[int]{Limit: 1000, Linger: time.Minute, Handle: r.handle, WG: &wg})
	for i := range 500 {
		q.Push(i)
	}
	q.mu.Lock()
	grown := len(q.ring)
	q.mu.Unlock()
	if grown < 499 {
		t.Fatalf("ring of %d for 499 waiting items", grown)
	}
	close(r.block)
	testutil.Eventually(t, 5*time.Second, "the burst handled and the consumer lingering", func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.waiting && q.n == 0
	})
	q.mu.Lock()
	kept := len(q.ring)
	q.mu.Unlock()
	if kept > keepRing {
		t.Fatalf("a lingering consumer keeps a ring of %d after the burst", kept)
	}
	q.Stop(nil)
	wg.Wait()
}

// TestMaxSize: the items waiting are bounded by weight as well as count; one item heavier than
// the bound may wait besides the others, and a handled item's weight is given back.
func TestMaxSize(t *testing.T) {
	r := recorder{block: make(chan struct{})}
	var q Queue[int]
	q.Init(Config[int]{Limit: 100, Size: func(v int) int { return v }, MaxSize: 10, Handle: r.handle})
	q.Push(1) // taken by the consumer, which blocks in Handle: no longer waiting
	busyWith := func(n, size int) func() bool {
		return func() bool {
			q.mu.Lock()
			defer q.mu.Unlock()
			return q.busy && q.n == n && q.size+q.heavy == size
		}
	}
	testutil.Eventually(t, 5*time.Second, "the consumer to take the first item", busyWith(0, 0))
	for i, step := range []struct {
		v  int
		ok bool
	}{
		{25, true}, // heavier than MaxSize: may wait, one at a time
		{30, false},
		{6, true}, // the others, up to MaxSize
		{4, true},
		{1, false},
		{0, true}, // weightless
	} {
		if got := q.Push(step.v); got != step.ok {
			t.Fatalf("step %d: Push(%d) = %v, want %v", i, step.v, got, step.ok)
		}
	}
	r.block <- struct{}{} // 1 handled; the consumer takes 25 and blocks again
	testutil.Eventually(t, 5*time.Second, "25 taken", busyWith(3, 10))
	if !q.Push(30) || q.Push(1) {
		t.Fatal("the heavy item's place was not given back, or the bound not kept")
	}
	r.block <- struct{}{} // 25 handled; the consumer takes 6
	testutil.Eventually(t, 5*time.Second, "6 taken", busyWith(3, 34))
	if !q.Push(6) {
		t.Fatal("6's weight was not given back")
	}
	if p := q.PeakSize(); p != 40 {
		t.Fatalf("peak %d, want 40", p)
	}
	close(r.block)
	q.Stop(nil)
}
