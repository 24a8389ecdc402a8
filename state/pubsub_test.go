package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// collector records what one listener received.
type collector struct {
	mu   sync.Mutex
	msgs []string
}

func (c *collector) add(msg []byte) {
	c.mu.Lock()
	c.msgs = append(c.msgs, string(msg))
	c.mu.Unlock()
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *collector) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

func waitSub(t testing.TB, sub *Subscription) {
	t.Helper()
	if err := sub.Wait(ctxT(t)); err != nil {
		t.Fatalf("subscription not confirmed: %v", err)
	}
}

func TestFanOutToManyListeners(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx := ctxT(t)
	const listeners, messages = 50, 100
	cols := make([]*collector, listeners)
	for i := range cols {
		cols[i] = &collector{}
		waitSub(t, s.Subscribe("chan-fan", cols[i].add))
	}
	raw := r.Client(t)
	for i := range messages {
		if err := raw.Publish(ctx, "chan-fan", strconv.Itoa(i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cols {
		testutil.Eventually(t, 10*time.Second, fmt.Sprintf("listener %d to get every message", i), func() bool { return c.len() == messages })
		for j, m := range c.snapshot() {
			if m != strconv.Itoa(j) {
				t.Fatalf("listener %d message %d = %q: out of order", i, j, m)
			}
		}
	}
	// One pub/sub connection serves them all (and the invalidation channels).
	if n := pubsubClients(t, raw); n != 1 {
		t.Fatalf("%d pub/sub connections, want 1", n)
	}
}

func pubsubClients(t testing.TB, c *redis.Client) int {
	t.Helper()
	list, err := c.ClientList(ctxT(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		fields := map[string]string{}
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			fields[k] = v
		}
		if fields["sub"] != "0" || fields["psub"] != "0" {
			n++
		}
	}
	return n
}

func TestSlowListenerIsDroppedWithoutDelayingOthers(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx := ctxT(t)

	release := make(chan struct{})
	dropped := make(chan error, 1)
	slow := s.Subscribe("chan-slow", func([]byte) { <-release },
		WithQueueSize(4), WithOnDrop(func(err error) { dropped <- err }))
	fast := &collector{}
	waitSub(t, s.Subscribe("chan-slow", fast.add, WithQueueSize(1000)))
	waitSub(t, slow)

	raw := r.Client(t)
	const messages = 200
	for i := range messages {
		if err := raw.Publish(ctx, "chan-slow", strconv.Itoa(i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// The fast listener gets everything while the slow one is still stuck in its callback.
	testutil.Eventually(t, 10*time.Second, "fast listener to get every message", func() bool { return fast.len() == messages })
	select {
	case <-slow.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("slow listener was not dropped")
	}
	if !errors.Is(slow.Err(), ErrSlowListener) {
		t.Fatalf("slow.Err() = %v", slow.Err())
	}
	close(release) // let the stuck callback (if it started at all) return so OnDrop can run
	select {
	case err := <-dropped:
		if !errors.Is(err, ErrSlowListener) {
			t.Fatalf("OnDrop got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnDrop not called")
	}
}

// TestIdleListenersHoldNoGoroutine: a listener's goroutine runs only while it has messages (and
// a second after), so the tens of thousands of quiet status listeners of a node cost none. Not
// parallel: it counts goroutines.
func TestIdleListenersHoldNoGoroutine(t *testing.T) {
	const consume = "lazyq.(*Queue[...]).consume"
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx := ctxT(t)
	raw := r.Client(t)
	const listeners = 50
	cols := make([]*collector, listeners)
	for i := range cols {
		cols[i] = &collector{}
		waitSub(t, s.Subscribe(fmt.Sprintf("chan-idle-%d", i), cols[i].add))
	}
	testutil.WaitGoroutines(t, 5*time.Second, consume, 0)
	for round := 1; round <= 2; round++ {
		for i := range cols {
			if err := raw.Publish(ctx, fmt.Sprintf("chan-idle-%d", i), strconv.Itoa(round)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range cols {
			testutil.Eventually(t, 10*time.Second, fmt.Sprintf("listener %d to get message %d", i, round), func() bool { return c.len() == round })
		}
		// Each listener's goroutine ends after its linger; the next message starts it again.
		testutil.WaitGoroutines(t, 10*time.Second, consume, 0)
	}
}

func TestRefCountedSubscriptions(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	raw := r.Client(t)
	ctx := ctxT(t)
	numsub := func() int64 {
		m, err := raw.PubSubNumSub(ctx, "chan-rc").Result()
		if err != nil {
			t.Fatal(err)
		}
		return m["chan-rc"]
	}

	a, b := &collector{}, &collector{}
	subA := s.Subscribe("chan-rc", a.add)
	subB := s.Subscribe("chan-rc", b.add)
	waitSub(t, subA)
	waitSub(t, subB)
	if n := numsub(); n != 1 {
		t.Fatalf("NUMSUB = %d with two listeners, want 1 (one shared subscription)", n)
	}
	subA.Cancel()
	if err := subA.Wait(ctx); !errors.Is(err, ErrCancelled) {
		t.Fatalf("Wait after Cancel = %v", err)
	}
	if subA.Err() != nil {
		t.Fatalf("Err after Cancel = %v", subA.Err())
	}
	if err := raw.Publish(ctx, "chan-rc", "one").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "b to get the message", func() bool { return b.len() == 1 })
	if a.len() != 0 {
		t.Fatal("cancelled listener still received")
	}
	if n := numsub(); n != 1 {
		t.Fatalf("NUMSUB = %d with one listener left, want 1", n)
	}
	subB.Cancel()
	testutil.Eventually(t, 10*time.Second, "UNSUBSCRIBE after the last listener", func() bool { return numsub() == 0 })

	// Subscribing again after the UNSUBSCRIBE works.
	c := &collector{}
	waitSub(t, s.Subscribe("chan-rc", c.add))
	if err := raw.Publish(ctx, "chan-rc", "two").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "re-subscribed listener to get the message", func() bool { return c.len() == 1 })
}

// Rapid subscribe/cancel churn on one channel must leave the last listener confirmed and live.
func TestSubscribeChurn(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	for range 200 {
		s.Subscribe("chan-churn", func([]byte) {}).Cancel()
	}
	c := &collector{}
	sub := s.Subscribe("chan-churn", c.add)
	waitSub(t, sub)
	if err := r.Client(t).Publish(ctxT(t), "chan-churn", "x").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "message after churn", func() bool { return c.len() == 1 })
}

func TestPatternSubscribe(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx := ctxT(t)
	type got struct{ channel, msg string }
	ch := make(chan got, 10)
	waitSub(t, s.PSubscribe("status/mod-p/*", func(channel string, msg []byte) { ch <- got{channel, string(msg)} }))
	if _, err := s.SetStatus(ctx, "mod-p", "power", []byte(`true`)); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-ch:
		if g.channel != StatusChannel("mod-p", "power") || g.msg != "true" {
			t.Fatalf("got %+v", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pattern message")
	}
}

// Subscribe, Wait, then anything published is delivered: the basis of a gap-free bind.
func TestWaitThenPublishIsDelivered(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	raw := r.Client(t)
	ctx := ctxT(t)
	for i := range 50 {
		c := &collector{}
		name := "chan-gap-" + strconv.Itoa(i)
		sub := s.Subscribe(name, c.add)
		waitSub(t, sub)
		if err := raw.Publish(ctx, name, "v").Err(); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, "delivery right after Wait", func() bool { return c.len() == 1 })
		sub.Cancel()
	}
}

func TestRedisRestart(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx := ctxT(t)

	var reconnects atomic.Int32
	cancelRecon := s.OnReconnect(func() { reconnects.Add(1) })
	defer cancelRecon()
	before := &collector{}
	waitSub(t, s.Subscribe("chan-before", before.add))
	if err := s.SetLookup(ctx, "sys-rr", map[string]string{"Display/1": "mod-rr"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveModule(ctx, "sys-rr", "Display", 1); err != nil {
		t.Fatal(err)
	}

	r.Stop()
	testutil.Eventually(t, 10*time.Second, "the store to notice Redis is gone", func() bool { return !s.Connected() })
	// With the pub/sub connection down, a lookup the cache has not got goes to Redis and fails (what
	// the cache has still answers: TestExecutesResolveThroughARedisOutage).
	if _, err := s.ResolveModule(ctx, "sys-never-read", "Display", 1); !errors.Is(err, errkind.Unavailable) {
		t.Fatalf("resolve while Redis is down: %v", err)
	}
	// A listener added while Redis is down stays registered and is established later. Wait
	// cannot succeed while Redis is stopped, so a short bounded wait is enough to see it fail.
	during := &collector{}
	subDuring := s.Subscribe("chan-during", during.add)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := subDuring.Wait(short)
	cancel()
	if !errors.Is(err, errkind.Unavailable) && !errors.Is(err, errkind.Timeout) {
		t.Fatalf("Wait while Redis is down: %v", err)
	}

	r.Restart(t)
	testutil.Eventually(t, 10*time.Second, "OnReconnect", func() bool { return reconnects.Load() == 1 })
	if !s.Connected() {
		t.Fatal("not connected after OnReconnect")
	}
	waitSub(t, subDuring)
	raw := r.Client(t)
	for _, ch := range []string{"chan-before", "chan-during"} {
		if err := raw.Publish(ctx, ch, "after").Err(); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, "old subscription resumed", func() bool { return before.len() == 1 })
	testutil.Eventually(t, 10*time.Second, "subscription made while down established", func() bool { return during.len() == 1 })
	// Redis lost its data (no persistence); a stale cache would still answer mod-rr.
	if _, err := s.ResolveModule(ctx, "sys-rr", "Display", 1); !errors.Is(err, ErrSystemNotFound) {
		t.Fatalf("resolve after restart: %v (cache not dropped?)", err)
	}
	// Invalidation works again on the new connection.
	if err := r.Client(t).HSet(ctx, SystemKey("sys-rr"), "Display/1", "mod-new").Err(); err != nil {
		t.Fatal(err)
	}
	if err := raw.Publish(ctx, LookupChangeChannel, "sys-rr").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "lookup-change honoured after reconnect", func() bool {
		id, _ := s.ResolveModule(ctx, "sys-rr", "Display", 1)
		return id == "mod-new"
	})
}

// A connection that stays open but answers nothing (CLIENT PAUSE here; a half-open TCP
// connection in real life) is replaced after two idle periods.
func TestSilentConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r, func(o *Options) { o.IdleTimeout = 100 * time.Millisecond })
	var reconnects atomic.Int32
	defer s.OnReconnect(func() { reconnects.Add(1) })()
	c := &collector{}
	waitSub(t, s.Subscribe("chan-silent", c.add))
	raw := r.Client(t)
	ctx := ctxT(t)
	if err := raw.Do(ctx, "CLIENT", "PAUSE", "600", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "reconnect after the pause", func() bool { return reconnects.Load() >= 1 })
	if err := raw.Publish(ctx, "chan-silent", "x").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "delivery on the new connection", func() bool { return c.len() == 1 })
	if n := pubsubClients(t, raw); n != 1 {
		t.Fatalf("%d pub/sub connections after replacement, want 1", n)
	}
}

func TestCloseTellsListeners(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	dropped := make(chan error, 1)
	sub := s.Subscribe("chan-close", func([]byte) {}, WithOnDrop(func(err error) { dropped <- err }))
	waitSub(t, sub)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waited for the listener goroutine, so OnDrop has already run.
	select {
	case err := <-dropped:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("OnDrop got %v", err)
		}
	default:
		t.Fatal("OnDrop not called before Close returned")
	}
	after := s.Subscribe("chan-close", func([]byte) {})
	if !errors.Is(after.Err(), ErrClosed) {
		t.Fatalf("Subscribe after Close: Err() = %v", after.Err())
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err) // idempotent
	}
}
