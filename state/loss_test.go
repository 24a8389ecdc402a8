package state

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hashicorp/go-hclog"
	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/internal/testutil"
)

// lossCheck is the marker check period of these tests: short, so a test takes little time.
const lossCheck = 300 * time.Millisecond

func fastLossCheck(o *Options) {
	o.LossCheck = lossCheck
	o.MaxBackoff = 100 * time.Millisecond
}

// node is one store with the share the loss tests give it: a module with two statuses and its
// metadata, and a system's lookup.
type node struct {
	s      *Store
	mod    string
	sys    string
	recon  atomic.Int32
	mu     sync.Mutex
	seenAt map[string]string // what the first OnReconnect call found in Redis of the module
}

func startNode(t *testing.T, r *testutil.Redis, id string) *node {
	t.Helper()
	s, _ := newStore(t, r, fastLossCheck, func(o *Options) { o.NodeID = id })
	n := &node{s: s, mod: "mod-" + id, sys: "sys-" + id}
	ctx := ctxT(t)
	s.Host(n.mod)
	s.OwnSystems([]string{n.sys})
	for name, v := range map[string]string{"power": `true`, "input": `"hdmi"`} {
		if _, err := s.SetStatus(ctx, n.mod, name, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetMetadata(ctx, n.mod, []byte(`{"functions":{}}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLookup(ctx, n.sys, map[string]string{"Display/1": n.mod}); err != nil {
		t.Fatal(err)
	}
	raw := r.Client(t)
	t.Cleanup(s.OnReconnect(func() {
		m, _ := raw.HGetAll(context.Background(), StatusKey(n.mod)).Result()
		n.mu.Lock()
		if n.seenAt == nil {
			n.seenAt = m
		}
		n.mu.Unlock()
		n.recon.Add(1)
	}))
	return n
}

// whole reports whether Redis holds all of the node's share.
func (n *node) whole(t *testing.T, raw *redis.Client) bool {
	return hashIs(t, raw, StatusKey(n.mod), map[string]string{"power": `true`, "input": `"hdmi"`}) &&
		hashIs(t, raw, SystemKey(n.sys), map[string]string{"Display/1": n.mod}) &&
		raw.Get(ctxT(t), InterfaceKey(n.mod)).Val() == `{"functions":{}}`
}

// pubsubIDs lists the ids of the server's pub/sub connections: unchanged ids mean no reconnect.
func pubsubIDs(t *testing.T, raw *redis.Client) string {
	t.Helper()
	list, err := raw.ClientList(ctxT(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " sub=0 psub=0") || line == "" {
			continue
		}
		ids = append(ids, strings.Fields(line)[0])
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// Redis emptied while every connection stays up (FLUSHALL, FLUSHDB): each node sharing it writes
// its whole share back — statuses, metadata, lookups, each announced — within about one check
// period, without any reconnect, and its OnReconnect listeners re-read only once it is back.
func TestLossWhileConnectedIsRepaired(t *testing.T) {
	t.Parallel()
	for _, flush := range []string{"FLUSHALL", "FLUSHDB"} {
		t.Run(flush, func(t *testing.T) {
			t.Parallel()
			r := testutil.StartRedis(t)
			raw := r.Client(t)
			nodes := []*node{startNode(t, r, "n1"), startNode(t, r, "n2")}
			pubs := &published{}
			waitSub(t, nodes[0].s.PSubscribe("status/mod-n2/*", pubs.add))
			meta := &published{}
			waitSub(t, nodes[0].s.PSubscribe(InterfaceChangeChannel, meta.add))
			lookups := &published{}
			waitSub(t, nodes[0].s.PSubscribe(LookupChangeChannel, lookups.add))
			before := pubsubIDs(t, raw)

			if err := raw.Do(ctxT(t), flush).Err(); err != nil {
				t.Fatal(err)
			}
			flushed := time.Now()
			testutil.Eventually(t, 10*time.Second, "every node's share back after "+flush, func() bool {
				return nodes[0].whole(t, raw) && nodes[1].whole(t, raw)
			})
			took := time.Since(flushed)
			t.Logf("shares back %s after %s (check period %s)", took.Round(time.Millisecond), flush, lossCheck)
			if took > lossCheck+2*time.Second {
				t.Fatalf("shares back %s after %s: more than the check period (%s) and a write-back", took, flush, lossCheck)
			}
			for _, n := range nodes {
				testutil.Eventually(t, 10*time.Second, n.s.marker+"'s watches told to re-read", func() bool { return n.recon.Load() == 1 })
				n.mu.Lock()
				seen := n.seenAt
				n.mu.Unlock()
				if len(seen) != 2 {
					t.Fatalf("%s's OnReconnect listener ran before the write-back: it found %v", n.s.marker, seen)
				}
				if ttl := raw.TTL(ctxT(t), n.s.marker).Val(); ttl != -1 {
					t.Fatalf("%s has TTL %s: a marker must never expire", n.s.marker, ttl)
				}
			}
			testutil.Eventually(t, 10*time.Second, "the repairs announced", func() bool {
				return pubs.has(`status/mod-n2/power true`) && pubs.has(`status/mod-n2/input "hdmi"`) &&
					meta.has(InterfaceChangeChannel+" mod-n2") && lookups.has(LookupChangeChannel+" sys-n2")
			})
			if after := pubsubIDs(t, raw); after != before {
				t.Fatalf("pub/sub connections %s became %s: this test is about a loss without a reconnect", before, after)
			}
		})
	}
}

// A marker naming another server (a replica promoted behind a proxy that kept the connection
// carries the old primary's marker) is a loss too: the share is written back, whatever the
// replica missed included, and the marker names this server again.
func TestMarkerOfAnotherServerIsALoss(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	raw := r.Client(t)
	n := startNode(t, r, "n1")
	ctx := ctxT(t)
	runID := raw.Get(ctx, n.s.marker).Val()
	if len(runID) != 40 {
		t.Fatalf("marker %s = %q; want the server's run id", n.s.marker, runID)
	}
	// What the promoted replica missed, and the old primary's run id.
	if err := raw.HDel(ctx, StatusKey(n.mod), "power").Err(); err != nil {
		t.Fatal(err)
	}
	if err := raw.Set(ctx, n.s.marker, strings.Repeat("0", 40), 0).Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the share written back", func() bool { return n.whole(t, raw) })
	testutil.Eventually(t, 10*time.Second, "the marker naming this server", func() bool { return raw.Get(ctx, n.s.marker).Val() == runID })
}

// Keys evicted under memory pressure (allkeys-lru) while connected: the rise of the server's
// evicted_keys tells the node even when the marker survives; its share is back within about a
// period.
func TestEvictionIsRepaired(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	raw := r.Client(t)
	n := startNode(t, r, "n1")
	ctx := ctxT(t)
	info := raw.Info(ctx, "memory").Val()
	var total int64
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			total, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if total == 0 {
		t.Fatalf("no used_memory in INFO memory: %q", info)
	}
	if err := raw.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	if err := raw.ConfigSet(ctx, "maxmemory", strconv.FormatInt(total+256<<10, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	runID := raw.Get(ctx, n.s.marker).Val()
	// Another application's keys fill Redis until the node's status hash is evicted.
	filler := strings.Repeat("x", 1024)
	for i := 0; raw.Exists(ctx, StatusKey(n.mod)).Val() == 1; i++ {
		if i == 100_000 {
			t.Fatal("100,000 filler keys and the node's status hash still not evicted")
		}
		if err := raw.Set(ctx, "filler/"+strconv.Itoa(i), filler, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// LRU sampling may have taken the marker too; put it back as it was, so that only evicted_keys
	// can tell the node (as when the sampling keeps the marker, read at every check).
	if err := raw.SetNX(ctx, n.s.marker, runID, 0).Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the evicted share back", func() bool { return n.whole(t, raw) })
	testutil.Eventually(t, 10*time.Second, "the watches told to re-read", func() bool { return n.recon.Load() >= 1 })
}

// A healthy, idle Redis sees one command per check period from the loss check — the marker
// script — and nothing else from the store's command connections.
func TestLossCheckCostsOneCommandAPeriod(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, hook := newStore(t, r, fastLossCheck)
	s.Host("mod-a")
	if _, err := s.SetStatus(ctxT(t), "mod-a", "power", []byte(`true`)); err != nil {
		t.Fatal(err)
	}
	// Each script's first run is EVALSHA, NOSCRIPT, EVAL (the marker's write in New, the first
	// check): count from the check after.
	evals := 0
	testutil.Eventually(t, 10*time.Second, "the first check", func() bool {
		for _, name := range hook.sent() {
			if name == "eval" {
				evals++
			}
		}
		return evals >= 2
	})
	const periods = 8
	start := time.Now()
	var sent []string
	testutil.Eventually(t, 10*time.Second, "8 more checks", func() bool {
		sent = append(sent, hook.sent()...)
		return len(sent) >= periods
	})
	elapsed := time.Since(start)
	for _, name := range sent {
		if name != "evalsha" {
			t.Fatalf("idle store sent %v; want only the check's EVALSHA", sent)
		}
	}
	if len(sent) > periods+1 {
		t.Fatalf("%d commands for %d checks", len(sent), periods)
	}
	if elapsed < (periods-1)*lossCheck {
		t.Fatalf("%d checks in %s: more than one a period (%s)", periods, elapsed, lossCheck)
	}
}

// Close stops the check and deletes the node's marker: a node that leaves leaves nothing. Not
// parallel: no other test's check may run while the goroutines are listed.
func TestCloseStopsTheLossCheck(t *testing.T) {
	r := testutil.StartRedis(t)
	raw := r.Client(t)
	s, err := New(ctxT(t), Options{URL: r.URL, Logger: testLogger(t), NodeID: "n-close", LossCheck: lossCheck})
	if err != nil {
		t.Fatal(err)
	}
	if n := raw.Exists(ctxT(t), MarkerKey("n-close")).Val(); n != 1 {
		t.Fatal("no marker after New")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := raw.Exists(ctxT(t), MarkerKey("n-close")).Val(); n != 0 {
		t.Fatal("the marker outlives Close")
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "state.(*Store).lossLoop") {
		t.Fatal("the loss check still runs after Close")
	}
}

// The embedded server of engine dev (miniredis) runs the marker's scripts too: its INFO has no
// run_id or evicted_keys, and its Lua refuses tonumber(nil). The marker is written at start, and
// a FLUSHALL is noticed and repaired as on redis-server.
func TestLossCheckOnTheEmbeddedServer(t *testing.T) {
	t.Parallel()
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mr.Close)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	var logs testutil.LockedBuffer
	s, err := New(ctxT(t), Options{Client: c, NodeID: "n1", LossCheck: 200 * time.Millisecond,
		Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.Host("mod-1")
	if _, err := s.SetStatus(ctxT(t), "mod-1", "power", []byte("true")); err != nil {
		t.Fatal(err)
	}
	if !mr.Exists(MarkerKey("n1")) {
		t.Fatalf("no marker on the embedded server; log:\n%s", logs.String())
	}
	mr.FlushAll()
	testutil.Eventually(t, 10*time.Second, "the status back after FLUSHALL", func() bool {
		return mr.HGet(StatusKey("mod-1"), "power") == "true"
	})
	if strings.Contains(logs.String(), "marker failed") {
		t.Fatalf("the marker's scripts failed on the embedded server:\n%s", logs.String())
	}
}
