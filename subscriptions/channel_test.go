package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/state"
)

// liveChannel returns the channel of a status (nil if there is none).
func liveChannel(m *Manager, mod, name string) *channel {
	m.chMu.Lock()
	defer m.chMu.Unlock()
	return m.channels[state.StatusChannel(mod, name)]
}

func wantChannels(t testing.TB, m *Manager, want map[string]int) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, fmt.Sprintf("channels %v", want), func() bool {
		return fmt.Sprint(m.channelWatches()) == fmt.Sprint(want)
	})
}

func TestWatchesShareOneChannel(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			m, st, _ := newManager(t)
			ch := state.StatusChannel("mod-1", "power")
			set(t, st, "mod-1", "power", "1")
			recs := make([]*recorder, n)
			cancels := make([]func(), n)
			for i := range recs {
				recs[i] = &recorder{}
				cancels[i] = watchModule(t, m, "mod-1", "power", recs[i].fn)
				// Each watch gets the current value once, whether it created the channel or joined it.
				waitVals(t, recs[i], "1")
			}
			wantChannels(t, m, map[string]int{ch: n})
			set(t, st, "mod-1", "power", "2")
			for _, r := range recs {
				waitVals(t, r, "1", "2")
			}

			// Leaving keeps the channel for the others; the last one out closes it.
			for i := 0; i < n/2; i++ {
				cancels[i]()
			}
			if n/2 > 0 {
				wantChannels(t, m, map[string]int{ch: n - n/2})
			}
			set(t, st, "mod-1", "power", "3")
			for i, r := range recs {
				if i >= n/2 {
					waitVals(t, r, "1", "2", "3")
				}
			}
			for i := n / 2; i < n; i++ {
				cancels[i]()
			}
			wantChannels(t, m, map[string]int{})
			set(t, st, "mod-1", "power", "4")
			settle(t, m, st, "mod-1", recs[n-1])
			for i, r := range recs {
				want := []string{"1", "2", "3"}
				if i < n/2 {
					want = want[:2]
				}
				if got := r.get(); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("watch %d got %q, want %q", i, got, want)
				}
			}
		})
	}
}

// TestJoinLiveChannelNoGap is TestNoGap for a watch that joins a channel another watch keeps live:
// its first value still comes from a read made after it attached, and it ends on the stored value.
func TestJoinLiveChannelNoGap(t *testing.T) {
	t.Parallel()
	m, st, _ := newManager(t)
	base := &recorder{}
	defer watchModule(t, m, "mod-r", "level", base.fn)()
	set(t, st, "mod-r", "level", "0")
	waitVals(t, base, "0")
	n := 0 // values never repeat across the rounds
	for i := 0; i < 20; i++ {
		stop, done := make(chan struct{}), make(chan struct{})
		go hammer(t, st, "mod-r", "level", &n, stop, done)
		rec := &recorder{}
		cancel := watchModule(t, m, "mod-r", "level", rec.fn)
		testutil.Eventually(t, 10*time.Second, "first value", func() bool { return len(rec.get()) > 0 })
		close(stop)
		<-done
		final := stored(t, st, "mod-r", "level")
		for _, r := range []*recorder{rec, base} {
			testutil.Eventually(t, 10*time.Second, "final value "+final, func() bool {
				v := r.get()
				return v[len(v)-1] == final
			})
		}
		if c := m.channelWatches()[state.StatusChannel("mod-r", "level")]; c != 2 {
			t.Fatalf("channel has %d watches, want 2", c)
		}
		cancel()
	}
}

// TestSystemWatchesShareAndSplit: watches of different systems that resolve to the same module
// share its channel, and part when a lookup moves one of them.
func TestSystemWatchesShareAndSplit(t *testing.T) {
	t.Parallel()
	m, st, _ := newManager(t)
	ctx := context.Background()
	set(t, st, "mod-a", "power", "true")
	set(t, st, "mod-b", "power", "false")
	for _, sys := range []string{"sys-1", "sys-2"} {
		if err := st.SetLookup(ctx, sys, map[string]string{"Display/1": "mod-a"}); err != nil {
			t.Fatal(err)
		}
	}
	r1, r2 := &recorder{}, &recorder{}
	defer watchSystem(t, m, "sys-1", "Display", 1, "power", r1.fn)()
	defer watchSystem(t, m, "sys-2", "Display", 1, "power", r2.fn)()
	waitVals(t, r1, "true")
	waitVals(t, r2, "true")
	chA, chB := state.StatusChannel("mod-a", "power"), state.StatusChannel("mod-b", "power")
	wantChannels(t, m, map[string]int{chA: 2})

	if err := st.SetLookup(ctx, "sys-2", map[string]string{"Display/1": "mod-b"}); err != nil {
		t.Fatal(err)
	}
	waitVals(t, r2, "true", "false")
	wantChannels(t, m, map[string]int{chA: 1, chB: 1})
	set(t, st, "mod-a", "power", "false")
	waitVals(t, r1, "true", "false")
	settle(t, m, st, "mod-a", r2)
}

// gatedRecorder blocks its first delivery after arm until release: a callback breaking the
// "only enqueue" rule, which is how a shared subscription's queue can overflow.
type gatedRecorder struct {
	recorder
	armed   chan struct{}
	blocked chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGated() *gatedRecorder {
	return &gatedRecorder{armed: make(chan struct{}), blocked: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedRecorder) fn(v []byte) {
	select {
	case <-g.armed:
		g.once.Do(func() {
			close(g.blocked)
			<-g.release
		})
	default:
	}
	g.recorder.fn(v)
}

// TestDroppedChannelSubscribesAgain: when state drops a shared subscription whose queue
// overflowed, every watch still attached gets a new shared one and ends on the stored value,
// without a repeat of a value it already had; the ref count stays right afterwards.
func TestDroppedChannelSubscribesAgain(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	ctx, cancelCtx := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelCtx()
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Debug, Output: testWriter{t}})
	st, err := state.New(ctx, state.Options{URL: r.URL, Logger: log, QueueSize: 8})
	if err != nil {
		t.Fatalf("state.New: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	m := New(st, log)
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close the manager: %v", err)
		}
	})

	set(t, st, "mod-1", "power", "0")
	gated, plain, other := newGated(), &recorder{}, &recorder{}
	cg := watchModule(t, m, "mod-1", "power", gated.fn)
	cp := watchModule(t, m, "mod-1", "power", plain.fn)
	defer watchModule(t, m, "mod-1", "volume", other.fn)() // another channel: unaffected
	waitVals(t, &gated.recorder, "0")
	waitVals(t, plain, "0")
	old := liveChannel(m, "mod-1", "power")

	close(gated.armed)
	set(t, st, "mod-1", "power", "1")
	<-gated.blocked
	// The shared goroutine is stuck in the gated callback: overflow its queue of 8.
	for i := 2; i <= 30; i++ {
		set(t, st, "mod-1", "power", fmt.Sprint(i))
	}
	testutil.Eventually(t, 10*time.Second, "subscription dropped", func() bool {
		return errors.Is(old.sub.Err(), state.ErrSlowListener)
	})
	close(gated.release)

	testutil.Eventually(t, 10*time.Second, "a new shared channel", func() bool {
		ch := liveChannel(m, "mod-1", "power")
		return ch != nil && ch != old
	})
	for _, rec := range []*recorder{&gated.recorder, plain} {
		testutil.Eventually(t, 10*time.Second, "stored value after the drop", func() bool {
			v := rec.get()
			return v[len(v)-1] == "30"
		})
	}
	chPower, chVolume := state.StatusChannel("mod-1", "power"), state.StatusChannel("mod-1", "volume")
	wantChannels(t, m, map[string]int{chPower: 2, chVolume: 1})
	set(t, st, "mod-1", "power", "31")
	for _, rec := range []*recorder{&gated.recorder, plain} {
		testutil.Eventually(t, 10*time.Second, "change after the drop", func() bool {
			v := rec.get()
			return v[len(v)-1] == "31"
		})
		v := rec.get()
		for i := 1; i < len(v); i++ {
			if v[i] == v[i-1] {
				t.Fatalf("value repeated: %q", v)
			}
		}
	}
	cg()
	wantChannels(t, m, map[string]int{chPower: 1, chVolume: 1})
	cp()
	wantChannels(t, m, map[string]int{chVolume: 1})
}

// TestChannelChurn attaches and cancels watches of one status from many goroutines while it
// changes (for the race detector and the ref count): a watch alive at the end sees the last value
// and nothing is left once all are gone.
func TestChannelChurn(t *testing.T) {
	t.Parallel()
	m, st, _ := newManager(t)
	ctx := context.Background()
	set(t, st, "mod-1", "power", "0")
	stop, done := make(chan struct{}), make(chan struct{})
	go hammer(t, st, "mod-1", "power", new(int), stop, done)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				cancel, err := m.WatchModule(ctx, "mod-1", "power", func([]byte) {})
				if err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}
		}()
	}
	keep := &recorder{}
	ck := watchModule(t, m, "mod-1", "power", keep.fn)
	wg.Wait()
	close(stop)
	<-done
	final := stored(t, st, "mod-1", "power")
	testutil.Eventually(t, 10*time.Second, "final value", func() bool {
		v := keep.get()
		return len(v) > 0 && v[len(v)-1] == final
	})
	wantChannels(t, m, map[string]int{state.StatusChannel("mod-1", "power"): 1})
	ck()
	wantChannels(t, m, map[string]int{})
	if m.Count() != 0 {
		t.Fatalf("count = %d", m.Count())
	}
}
