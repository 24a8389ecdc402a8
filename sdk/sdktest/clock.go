package sdktest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// Clock is a virtual clock for sdk.WithClock: time stands still until the test calls Advance,
// which runs every timer that falls due, in deadline order, with the clock set to each
// deadline. Queue timeouts, retries, delays, reconnect backoff and schedules all run on it, so
// a test never sleeps:
//
//	clk := sdktest.NewClock()
//	h := sdktest.New(t, New, sdk.WithClock(clk))
//	...
//	clk.Advance(5 * time.Second) // the command times out and is retried
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	seq     uint64
	changed chan struct{}
	advance sync.Mutex // one Advance at a time
}

type fakeTimer struct {
	c    *Clock
	at   time.Time
	seq  uint64
	f    func()
	live bool
}

var _ sdk.Clock = (*Clock)(nil)

// NewClock returns a virtual clock set to 2025-01-06 09:00:00 UTC (a Monday morning).
func NewClock() *Clock {
	return &Clock{now: time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC), changed: make(chan struct{})}
}

// Now is the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc registers f to run inside the Advance that passes now+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) sdk.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(max(d, 0)), seq: c.seq, f: f, live: true}
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return t
}

// Stop cancels the timer.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if !t.live {
		return false
	}
	t.live = false
	t.c.removeLocked(t)
	t.c.notifyLocked()
	return true
}

func (c *Clock) removeLocked(t *fakeTimer) {
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i:i], c.timers[i+1:]...)
			return
		}
	}
}

func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Advance moves the clock forward by d, running due timers (and timers they arm that also fall
// due) in order.
func (c *Clock) Advance(d time.Duration) {
	c.advance.Lock()
	defer c.advance.Unlock()
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.SliceStable(c.timers, func(i, j int) bool {
			a, b := c.timers[i], c.timers[j]
			if !a.at.Equal(b.at) {
				return a.at.Before(b.at)
			}
			return a.seq < b.seq
		})
		if len(c.timers) == 0 || c.timers[0].at.After(end) {
			c.now = end
			c.notifyLocked()
			c.mu.Unlock()
			return
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		t.live = false
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.notifyLocked()
		c.mu.Unlock()
		t.f()
	}
}

// Pending is the number of armed timers.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitTimers waits until at least n timers are armed (e.g. a reconnect backoff that a
// goroutine arms after a disconnect), or ctx ends.
func (c *Clock) WaitTimers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		got, ch := len(c.timers), c.changed
		c.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sdktest: %d timers armed, want %d: %w", got, n, ctx.Err())
		}
	}
}
