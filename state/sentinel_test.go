package state

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// A store on a Sentinel URL follows a failover: the primary is killed during a steady load of
// status writes, the sentinels promote the replica, and the store's commands and its pub/sub
// connection go to it. No status is lost — not those written while no primary answered, and not
// those the old primary acknowledged but never passed on to the replica (paused while they were
// written): the write-back after the reconnect puts them back. Subscribers go on receiving.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	sn := testutil.StartSentinel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := New(ctx, Options{URL: sn.URL, Logger: testLogger(t), NodeID: "n1", MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("state.New on %s: %v", sn.URL, err)
	}
	defer func() { _ = s.Close() }()
	if SentinelURL(sn.URL) != true {
		t.Fatalf("%s not taken for a Sentinel URL", sn.URL)
	}

	const loaded, gap = 6, 4 // modules under steady load; modules written only in the gap
	mod := func(i int) string { return "mod-" + strconv.Itoa(i) }
	var (
		mu       sync.Mutex
		received = map[string]int64{} // module → last value its subscriber received
		counts   = map[string]int{}   // module → values received
	)
	for i := range loaded + gap {
		id := mod(i)
		s.Host(id)
		waitSub(t, s.Subscribe(StatusChannel(id, "counter"), func(msg []byte) {
			n, _ := strconv.ParseInt(string(msg), 10, 64)
			mu.Lock()
			received[id], counts[id] = n, counts[id]+1
			mu.Unlock()
		}))
	}
	countOf := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return counts[id]
	}

	// Steady load: every loaded module counts up every 10 ms; a write that fails (no primary for a
	// moment) is counted as written all the same: the node holds it and must get it into Redis.
	last := make([]atomic.Int64, loaded+gap)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range loaded {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for n := int64(1); ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				wctx, wcancel := context.WithTimeout(ctx, time.Second)
				_, _ = s.SetStatus(wctx, mod(i), "counter", []byte(strconv.FormatInt(n, 10)))
				wcancel()
				last[i].Store(n)
			}
		}()
	}
	testutil.Eventually(t, 10*time.Second, "the load flowing", func() bool { return countOf(mod(0)) >= 10 })

	// The replication gap: with the replica paused, the gap modules are written on the primary
	// alone (acknowledged), and the primary dies before the replica hears of them.
	old, err := sn.Primary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	primary := sn.Server(old)
	replica := sn.Servers[0]
	if replica == primary {
		replica = sn.Servers[1]
	}
	// Paused, the replica cannot reconnect; cut off, it cannot have the writes in its socket.
	replica.Pause()
	if err := primary.Client(t).Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
		replica.Resume()
		t.Fatalf("cut the replica off: %v", err)
	}
	for i := loaded; i < loaded+gap; i++ {
		if _, err := s.SetStatus(ctx, mod(i), "counter", []byte(`777`)); err != nil {
			replica.Resume()
			t.Fatalf("write before the failover: %v", err)
		}
		last[i].Store(777)
	}
	killed := time.Now()
	primary.Kill()
	replica.Resume()

	testutil.Eventually(t, 20*time.Second, "the sentinels to promote the replica", func() bool {
		p, err := sn.Primary(ctx)
		return err == nil && p == replica.Addr
	})
	promoted := time.Since(killed)
	before := countOf(mod(0))
	testutil.Eventually(t, 20*time.Second, "subscribers receiving from the promoted replica", func() bool {
		for i := range loaded {
			if countOf(mod(i)) <= before {
				return false
			}
		}
		return s.Connected()
	})
	t.Logf("primary killed; replica promoted after %s; load flowing again after %s", promoted, time.Since(killed))
	close(stop)
	wg.Wait()

	// Nothing lost: Redis (the new primary) holds every module's last value, and every subscriber
	// received it.
	rc := sn.Client(t)
	testutil.Eventually(t, 20*time.Second, "every module's last value in the new primary and received", func() bool {
		for i := range loaded + gap {
			want := last[i].Load()
			got, err := rc.HGet(ctx, StatusKey(mod(i)), "counter").Result()
			if err != nil || got != strconv.FormatInt(want, 10) {
				t.Logf("%s: redis has %q (%v), last written %d", mod(i), got, err, want)
				return false
			}
			mu.Lock()
			r := received[mod(i)]
			mu.Unlock()
			if r != want {
				return false
			}
		}
		return true
	})
	if role, err := s.Client().Do(ctx, "ROLE").Slice(); err != nil || len(role) == 0 || role[0] != "master" {
		t.Fatalf("the store's client talks to a %v (%v), not the primary", role, err)
	}
}
