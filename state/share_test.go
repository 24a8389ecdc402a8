package state

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
)

// published collects what a Store subscription receives, as "channel value" lines.
type published struct {
	mu   sync.Mutex
	msgs []string
}

func (p *published) add(ch string, msg []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, ch+" "+string(msg))
}

func (p *published) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.msgs
	p.msgs = nil
	slices.Sort(out)
	return out
}

func (p *published) has(line string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.msgs, line)
}

func fastReconnect(o *Options) { o.MaxBackoff = 100 * time.Millisecond }

// hashIs reports whether key holds exactly want (an absent key is an empty hash).
func hashIs(t *testing.T, c *redis.Client, key string, want map[string]string) bool {
	t.Helper()
	got, err := c.HGetAll(ctxT(t), key).Result()
	return err == nil && maps.Equal(got, want)
}

// A Redis that restarts empty gets back, from the node alone, every status of every module the
// node hosts (a value set while Redis was down included), their metadata (also set while it was
// down) and the lookups of the
// systems it owns, each published; nothing of modules it does not host, or no longer hosts, and
// of systems it does not own. OnReconnect listeners run once it is all back.
func TestWriteBackAfterEmptyRestart(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r, fastReconnect)
	ctx := ctxT(t)
	raw := r.Client(t)

	s.Host("mod-a")
	s.Host("mod-b")
	s.Host("mod-gone")
	s.OwnSystems([]string{"sys-own"})
	writes := []struct{ mod, name, value string }{
		{"mod-a", "power", `true`}, {"mod-a", "input", `"hdmi"`}, {"mod-b", "level", `5`},
		{"mod-b", "temp", `20`}, {"mod-b", "temp", `null`}, // deleted: not written back
		{"mod-x", "power", `true`},    // not hosted here
		{"mod-gone", "power", `true`}, // hosted, then unhosted below
	}
	for _, w := range writes {
		if _, err := s.SetStatus(ctx, w.mod, w.name, []byte(w.value)); err != nil {
			t.Fatal(err)
		}
	}
	s.Unhost("mod-gone")
	if err := s.SetMetadata(ctx, "mod-a", []byte(`{"functions":{}}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMetadata(ctx, "mod-x", []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	own := map[string]string{"Display/1": "mod-a", "Display/2": "mod-b"}
	if err := s.SetLookup(ctx, "sys-own", own); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLookup(ctx, "sys-other", map[string]string{"Display/1": "mod-x"}); err != nil {
		t.Fatal(err)
	}
	if mods, systems := s.Hosted(); mods != 2 || systems != 1 {
		t.Fatalf("Hosted() = %d modules, %d systems; want 2, 1", mods, systems)
	}

	pubs := &published{}
	waitSub(t, s.PSubscribe("status/*", pubs.add))
	lookups := &published{}
	waitSub(t, s.PSubscribe(LookupChangeChannel, lookups.add))
	var (
		mu         sync.Mutex
		atListener map[string]string // what the first OnReconnect listener call found in Redis
	)
	cancelRecon := s.OnReconnect(func() {
		m, _ := raw.HGetAll(ctxT(t), StatusKey("mod-a")).Result()
		mu.Lock()
		defer mu.Unlock()
		if atListener == nil {
			atListener = m
		}
	})
	defer cancelRecon()

	r.Stop()
	testutil.Eventually(t, 10*time.Second, "the store to notice Redis is gone", func() bool { return !s.Connected() })
	// The driver changes a value while Redis is down: the node keeps it for the write-back, and
	// so the write succeeds (a module this node does not host still fails).
	if _, err := s.SetStatus(ctx, "mod-a", "power", []byte(`false`)); err != nil {
		t.Fatalf("SetStatus of a hosted module while Redis is down: %v", err)
	}
	if _, err := s.SetStatus(ctx, "mod-x", "power", []byte(`false`)); !errors.Is(err, errkind.Unavailable) {
		t.Fatalf("SetStatus of a module hosted elsewhere while Redis is down: %v", err)
	}
	// Its metadata too (a module update while Redis is down).
	if err := s.SetMetadata(ctx, "mod-a", []byte(`{"functions":{"power":{}}}`)); err != nil {
		t.Fatalf("SetMetadata of a hosted module while Redis is down: %v", err)
	}
	if err := s.SetMetadata(ctx, "mod-x", []byte(`{"x":2}`)); !errors.Is(err, errkind.Unavailable) {
		t.Fatalf("SetMetadata of a module hosted elsewhere while Redis is down: %v", err)
	}
	r.Restart(t)

	wantA := map[string]string{"power": `false`, "input": `"hdmi"`}
	testutil.Eventually(t, 10*time.Second, "the hosted modules' statuses back in Redis", func() bool {
		return hashIs(t, raw, StatusKey("mod-a"), wantA) && hashIs(t, raw, StatusKey("mod-b"), map[string]string{"level": `5`})
	})
	if !hashIs(t, raw, SystemKey("sys-own"), own) {
		t.Fatal("the owned system's lookup is not back")
	}
	if v, err := raw.Get(ctx, InterfaceKey("mod-a")).Result(); err != nil || v != `{"functions":{"power":{}}}` {
		t.Fatalf("interface/mod-a = %q, %v", v, err)
	}
	for _, key := range []string{StatusKey("mod-x"), StatusKey("mod-gone"), InterfaceKey("mod-x"), SystemKey("sys-other")} {
		if n, err := raw.Exists(ctx, key).Result(); err != nil || n != 0 {
			t.Fatalf("%s written back (exists %d, %v): the node does not host it", key, n, err)
		}
	}
	// Every value written back is published, so listeners bound before the restart get it.
	want := []string{`status/mod-a/input "hdmi"`, `status/mod-a/power false`, `status/mod-b/level 5`}
	testutil.Eventually(t, 10*time.Second, "the written-back statuses published", func() bool {
		return pubs.has(want[0]) && pubs.has(want[1]) && pubs.has(want[2])
	})
	testutil.Eventually(t, 10*time.Second, "the lookup announced", func() bool { return lookups.has("lookup-change sys-own") })
	if got := pubs.take(); !slices.Equal(got, want) {
		t.Fatalf("published %q; want exactly %q", got, want)
	}
	testutil.Eventually(t, 10*time.Second, "the OnReconnect listener", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return atListener != nil
	})
	mu.Lock()
	defer mu.Unlock()
	if !maps.Equal(atListener, wantA) {
		t.Fatalf("OnReconnect listener ran before the write-back: it found %v", atListener)
	}
	// The written-back lookup resolves through the cache again.
	if id, err := s.ResolveModule(ctx, "sys-own", "Display", 2); err != nil || id != "mod-b" {
		t.Fatalf("ResolveModule after the write-back = %q, %v", id, err)
	}
}

// After a reconnect that lost no data nothing is written or published; after one where Redis
// holds something else than the node wrote (a promoted replica that missed the last writes, or a
// write behind the node's back) each differing field is put right and published, and a field the
// node deleted is deleted again with a null.
func TestWriteBackRepairsWhatDiffers(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r, fastReconnect)
	ctx := ctxT(t)
	raw := r.Client(t)
	s.Host("mod-a")
	s.OwnSystems([]string{"sys-1"})
	for _, w := range [][2]string{{"a", `1`}, {"b", `2`}, {"d", `4`}, {"b", `null`}} {
		if _, err := s.SetStatus(ctx, "mod-a", w[0], []byte(w[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetMetadata(ctx, "mod-a", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLookup(ctx, "sys-1", map[string]string{"Display/1": "mod-a"}); err != nil {
		t.Fatal(err)
	}
	pubs := &published{}
	waitSub(t, s.PSubscribe("status/*", pubs.add))
	meta := &published{}
	waitSub(t, s.PSubscribe(InterfaceChangeChannel, meta.add))
	var reconnects atomic.Int32
	defer s.OnReconnect(func() { reconnects.Add(1) })()

	// A reconnect with everything intact: silent.
	killPubSub(t, raw)
	testutil.Eventually(t, 10*time.Second, "first reconnect", func() bool { return reconnects.Load() == 1 })
	if got := pubs.take(); len(got) != 0 {
		t.Fatalf("a reconnect that lost nothing published %q", got)
	}

	// Redis now holds an older a, the deleted b, an unknown c, the wrong metadata and lookup.
	if err := raw.HSet(ctx, StatusKey("mod-a"), "a", `0`, "b", `2`, "c", `9`).Err(); err != nil {
		t.Fatal(err)
	}
	if err := raw.Set(ctx, InterfaceKey("mod-a"), `{"v":0}`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := raw.HSet(ctx, SystemKey("sys-1"), "Display/2", "mod-z").Err(); err != nil {
		t.Fatal(err)
	}
	killPubSub(t, raw)
	testutil.Eventually(t, 10*time.Second, "second reconnect", func() bool { return reconnects.Load() == 2 })
	if !hashIs(t, raw, StatusKey("mod-a"), map[string]string{"a": `1`, "d": `4`}) {
		t.Fatalf("status/mod-a not repaired: %v", raw.HGetAll(ctx, StatusKey("mod-a")).Val())
	}
	if !hashIs(t, raw, SystemKey("sys-1"), map[string]string{"Display/1": "mod-a"}) {
		t.Fatalf("system/sys-1 not repaired: %v", raw.HGetAll(ctx, SystemKey("sys-1")).Val())
	}
	if v := raw.Get(ctx, InterfaceKey("mod-a")).Val(); v != `{"v":1}` {
		t.Fatalf("interface/mod-a not repaired: %s", v)
	}
	want := []string{"status/mod-a/a 1", "status/mod-a/b null", "status/mod-a/c null"}
	testutil.Eventually(t, 10*time.Second, "the repairs published", func() bool {
		return pubs.has(want[0]) && pubs.has(want[1]) && pubs.has(want[2])
	})
	if got := pubs.take(); !slices.Equal(got, want) {
		t.Fatalf("published %q; want exactly %q (d was right and stays quiet)", got, want)
	}
	testutil.Eventually(t, 10*time.Second, "the metadata announced", func() bool { return meta.has("engine/interface-change mod-a") })
}

// killPubSub drops every pub/sub connection of the server (the store's), as a network blip would.
func killPubSub(t *testing.T, raw *redis.Client) {
	t.Helper()
	if err := raw.Do(ctxT(t), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
}

// Under a steady stream of status writes, reconnects (each one a write-back) never put an older
// value over a newer one: the module's writes and its write-back take turns, so every value a
// listener receives is newer than the one before, and Redis ends on the last value written.
func TestWriteBackNeverOverwritesANewerWrite(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r, fastReconnect)
	raw := r.Client(t)
	const modules = 4
	seen := make([][]int64, modules) // values received, per module
	var seenMu sync.Mutex
	for i := range modules {
		id := "mod-" + strconv.Itoa(i)
		s.Host(id)
		waitSub(t, s.Subscribe(StatusChannel(id, "counter"), func(msg []byte) {
			n, _ := strconv.ParseInt(string(msg), 10, 64)
			seenMu.Lock()
			seen[i] = append(seen[i], n)
			seenMu.Unlock()
		}))
	}
	var reconnects atomic.Int32
	defer s.OnReconnect(func() { reconnects.Add(1) })()

	stop := make(chan struct{})
	last := make([]atomic.Int64, modules)
	var wg sync.WaitGroup
	for i := range modules {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := ctxT(t)
			for n := int64(1); ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.SetStatus(ctx, "mod-"+strconv.Itoa(i), "counter", []byte(strconv.FormatInt(n, 10))); err != nil {
					t.Errorf("SetStatus: %v", err) // only the pub/sub connection is cut
					return
				}
				last[i].Store(n)
			}
		}()
	}
	for k := int32(1); k <= 10; k++ {
		killPubSub(t, raw)
		testutil.Eventually(t, 10*time.Second, "reconnect "+strconv.Itoa(int(k)), func() bool { return reconnects.Load() >= k })
	}
	close(stop)
	wg.Wait()
	for i := range modules {
		key, want := StatusKey("mod-"+strconv.Itoa(i)), strconv.FormatInt(last[i].Load(), 10)
		if got := raw.HGet(ctxT(t), key, "counter").Val(); got != want {
			t.Fatalf("%s counter = %s after the writes ended; the last written was %s", key, got, want)
		}
	}
	seenMu.Lock()
	defer seenMu.Unlock()
	for i, vals := range seen {
		if len(vals) == 0 {
			t.Fatalf("mod-%d: nothing received", i)
		}
		for j := 1; j < len(vals); j++ {
			if vals[j] <= vals[j-1] {
				t.Fatalf("mod-%d: received %d after %d: an older value was written over a newer one", i, vals[j], vals[j-1])
			}
		}
	}
}

// A write Redis refuses while the connection stays up (here: out of memory) is not lost either:
// the store writes its share back as soon as Redis takes writes again, with no further write.
func TestRefusedWriteIsWrittenBackLater(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r, fastReconnect)
	ctx := ctxT(t)
	raw := r.Client(t)
	s.Host("mod-a")
	if _, err := s.SetStatus(ctx, "mod-a", "power", []byte(`true`)); err != nil {
		t.Fatal(err)
	}
	if err := raw.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	// Refused by Redis (out of memory), but kept by the node: the write succeeds for the driver.
	if _, err := s.SetStatus(ctx, "mod-a", "power", []byte(`false`)); err != nil {
		t.Fatalf("SetStatus of a hosted module with Redis out of memory: %v", err)
	}
	if got, _ := raw.HGet(ctx, StatusKey("mod-a"), "power").Result(); got != "true" {
		t.Fatalf("Redis out of memory took the write (%q): the test refuses nothing", got)
	}
	if !s.Connected() {
		t.Fatal("the pub/sub connection dropped: this test is about a refusal while it stays up")
	}
	if err := raw.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the refused value written back", func() bool {
		return hashIs(t, raw, StatusKey("mod-a"), map[string]string{"power": `false`})
	})
}
