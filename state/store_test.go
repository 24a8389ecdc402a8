package state

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
)

func TestSetStatus(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx := ctxT(t)
	msgs := rawSub(t, r, true, "status/mod-1/*")

	steps := []struct {
		name    string
		value   []byte
		changed bool
		publish string // "" means nothing is published
		stored  string // "" means the field is absent
		err     error
	}{
		{"new value", []byte(`true`), true, `true`, `true`, nil},
		{"same value", []byte(`true`), false, "", `true`, nil},
		{"other value", []byte(`false`), true, `false`, `false`, nil},
		{"nil deletes", nil, true, `null`, "", nil},
		{"delete absent", nil, false, "", "", nil},
		{"object", []byte(`{"a":1}`), true, `{"a":1}`, `{"a":1}`, nil},
		{"json null deletes", []byte(` null `), true, `null`, "", nil},
		{"invalid json", []byte(`{oops`), false, "", "", ErrInvalidValue},
	}
	for _, st := range steps {
		changed, err := s.SetStatus(ctx, "mod-1", "power", st.value)
		if !errors.Is(err, st.err) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.err)
		}
		if changed != st.changed {
			t.Fatalf("%s: changed = %v, want %v", st.name, changed, st.changed)
		}
		v, ok, err := s.StatusValue(ctx, "mod-1", "power")
		if err != nil || ok != (st.stored != "") || string(v) != st.stored {
			t.Fatalf("%s: stored = %q %v %v, want %q", st.name, v, ok, err, st.stored)
		}
		// A marker publish after each step proves nothing else was published in between.
		if st.publish != "" {
			if m := recv(t, msgs); m.Channel != "status/mod-1/power" || m.Payload != st.publish {
				t.Fatalf("%s: published %s %q, want %q", st.name, m.Channel, m.Payload, st.publish)
			}
		}
		if _, err := s.SetStatus(ctx, "mod-1", "marker", []byte(fmt.Sprintf("%q", st.name))); err != nil {
			t.Fatal(err)
		}
		if m := recv(t, msgs); m.Channel != "status/mod-1/marker" {
			t.Fatalf("%s: unexpected publish %s %q", st.name, m.Channel, m.Payload)
		}
	}
	if !errors.Is(ErrInvalidValue, errkind.BadRequest) {
		t.Fatal("ErrInvalidValue must be a BadRequest")
	}
}

func TestClearStatus(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx := ctxT(t)
	for _, f := range []string{"power", "input", "volume"} {
		if _, err := s.SetStatus(ctx, "mod-2", f, []byte(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := rawSub(t, r, true, "status/mod-2/*")
	if err := s.ClearStatus(ctx, "mod-2"); err != nil {
		t.Fatal(err)
	}
	recvNulls(t, msgs, "mod-2", "power", "input", "volume")
	st, err := s.Status(ctx, "mod-2")
	if err != nil || len(st) != 0 {
		t.Fatalf("status after clear = %v, %v", st, err)
	}
	// Clearing an empty module publishes nothing and is not an error.
	if err := s.ClearStatus(ctx, "mod-2"); err != nil {
		t.Fatal(err)
	}
}

func TestSetLookupAtomicAndAnnounced(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx := ctxT(t)
	changes := rawSub(t, r, false, LookupChangeChannel)

	a, b := map[string]string{}, map[string]string{}
	for i := 1; i <= 20; i++ {
		a[LookupField("Display", i)] = fmt.Sprintf("mod-a%d", i)
		b[LookupField("Camera", i)] = fmt.Sprintf("mod-b%d", i)
	}
	if err := s.SetLookup(ctx, "sys-1", a); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, changes); m.Payload != "sys-1" {
		t.Fatalf("lookup-change carried %q", m.Payload)
	}

	// A reader on another connection must only ever see a complete a or a complete b.
	raw := r.Client(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := raw.HGetAll(ctx, SystemKey("sys-1")).Result()
			if err != nil {
				bad = err
				return
			}
			if !maps.Equal(got, a) && !maps.Equal(got, b) {
				bad = fmt.Errorf("half-built lookup seen: %v", got)
				return
			}
		}
	}()
	for i := range 200 {
		next := a
		if i%2 == 0 {
			next = b
		}
		if err := s.SetLookup(ctx, "sys-1", next); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if bad != nil {
		t.Fatal(bad)
	}
	got, err := s.Lookup(ctx, "sys-1")
	if err != nil || !maps.Equal(got, a) {
		t.Fatalf("Lookup = %v, %v; want %v", got, err, a)
	}

	if err := s.DeleteLookup(ctx, "sys-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, "sys-1"); !errors.Is(err, ErrSystemNotFound) || !errors.Is(err, errkind.NotFound) {
		t.Fatalf("Lookup after delete: %v", err)
	}
}

func TestResolveModule(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx := ctxT(t)
	if err := s.SetLookup(ctx, "sys-r", map[string]string{"Display/1": "mod-d1", "Display/2": "mod-d2"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		sys, name string
		index     int
		want      string
		err       error
	}{
		{"sys-r", "Display", 1, "mod-d1", nil},
		{"sys-r", "Display", 0, "mod-d1", nil},
		{"sys-r", "Display", 2, "mod-d2", nil},
		{"sys-r", "Display", 3, "", ErrModuleNotFound},
		{"sys-r", "Camera", 1, "", ErrModuleNotFound},
		{"sys-none", "Display", 1, "", ErrSystemNotFound},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s_%d", c.sys, c.name, c.index), func(t *testing.T) {
			got, err := s.ResolveModule(ctx, c.sys, c.name, c.index)
			if got != c.want || !errors.Is(err, c.err) {
				t.Fatalf("= %q, %v; want %q, %v", got, err, c.want, c.err)
			}
			if c.err != nil && !errors.Is(err, errkind.NotFound) {
				t.Fatalf("%v is not a NotFound", err)
			}
		})
	}
}

// The hot execute path (resolve + metadata) must not touch Redis while nothing changed.
func TestCacheHitMakesNoRoundTrip(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, hook := newStore(t, r)
	ctx := ctxT(t)
	// Our own writes come back as invalidations; wait for both echoes so they cannot empty the
	// cache in the middle of the measurement (the Store invalidates before fanning out).
	echoes := make(chan string, 64)
	for _, ch := range []string{LookupChangeChannel, InterfaceChangeChannel} {
		sub := s.Subscribe(ch, func(msg []byte) { echoes <- string(msg) })
		waitSub(t, sub)
		defer sub.Cancel()
	}
	if err := s.SetLookup(ctx, "sys-c", map[string]string{"Display/1": "mod-c"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMetadata(ctx, "mod-c", []byte(`{"functions":{}}`)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-echoes:
		case <-ctx.Done():
			t.Fatal("own invalidation echo not received")
		}
	}
	execute := func() {
		t.Helper()
		id, err := s.ResolveModule(ctx, "sys-c", "Display", 1)
		if err != nil || id != "mod-c" {
			t.Fatalf("resolve = %q, %v", id, err)
		}
		if md, err := s.Metadata(ctx, id); err != nil || string(md) != `{"functions":{}}` {
			t.Fatalf("metadata = %s, %v", md, err)
		}
		if _, err := s.ResolveModule(ctx, "sys-c", "Missing", 1); !errors.Is(err, ErrModuleNotFound) {
			t.Fatalf("missing module: %v", err)
		}
		if _, err := s.Metadata(ctx, "mod-none"); !errors.Is(err, ErrNoMetadata) {
			t.Fatalf("missing metadata: %v", err)
		}
	}
	execute() // fills the caches
	before := hook.n.Load()
	for range 100 {
		execute()
	}
	if n := hook.n.Load() - before; n != 0 {
		t.Fatalf("%d Redis round trips on cached lookups, want 0", n)
	}
	// A local write is visible at once, without waiting for the pub/sub echo.
	if err := s.SetLookup(ctx, "sys-c", map[string]string{"Display/1": "mod-c2"}); err != nil {
		t.Fatal(err)
	}
	if id, err := s.ResolveModule(ctx, "sys-c", "Display", 1); err != nil || id != "mod-c2" {
		t.Fatalf("after SetLookup: %q, %v", id, err)
	}
	if err := s.SetMetadata(ctx, "mod-c2", []byte(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	if md, err := s.Metadata(ctx, "mod-c2"); err != nil || string(md) != `{"v":2}` {
		t.Fatalf("after SetMetadata: %s, %v", md, err)
	}
}

// Another node's writes reach this node's caches through lookup-change and interface-change.
func TestCacheInvalidatedByOtherNode(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	a, _ := newStore(t, r)
	b, hookB := newStore(t, r, func(o *Options) { o.NodeID = "n2" })
	ctx := ctxT(t)
	// b must have processed the echoes of a's first writes before it fills its cache, or they
	// would (correctly) empty it again.
	echoes := make(chan string, 64)
	for _, ch := range []string{LookupChangeChannel, InterfaceChangeChannel} {
		sub := b.Subscribe(ch, func(msg []byte) { echoes <- string(msg) }, WithQueueSize(100))
		waitSub(t, sub)
		defer sub.Cancel()
	}

	if err := a.SetLookup(ctx, "sys-x", map[string]string{"Display/1": "mod-1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetMetadata(ctx, "mod-1", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-echoes:
		case <-ctx.Done():
			t.Fatal("invalidation echo not received on b")
		}
	}
	if id, err := b.ResolveModule(ctx, "sys-x", "Display", 1); err != nil || id != "mod-1" {
		t.Fatalf("b resolve = %q, %v", id, err)
	}
	if md, err := b.Metadata(ctx, "mod-1"); err != nil || string(md) != `{"v":1}` {
		t.Fatalf("b metadata = %s, %v", md, err)
	}
	// Both answers are cached on b now.
	before := hookB.n.Load()
	if id, err := b.ResolveModule(ctx, "sys-x", "Display", 1); err != nil || id != "mod-1" {
		t.Fatalf("b resolve again = %q, %v", id, err)
	}
	if md, err := b.Metadata(ctx, "mod-1"); err != nil || string(md) != `{"v":1}` {
		t.Fatalf("b metadata again = %s, %v", md, err)
	}
	if hookB.n.Load() != before {
		t.Fatal("b did not cache")
	}

	if err := a.SetLookup(ctx, "sys-x", map[string]string{"Display/1": "mod-2"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "b to see the new lookup", func() bool {
		id, _ := b.ResolveModule(ctx, "sys-x", "Display", 1)
		return id == "mod-2"
	})
	if err := a.SetMetadata(ctx, "mod-1", []byte(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "b to see the new metadata", func() bool {
		md, _ := b.Metadata(ctx, "mod-1")
		return string(md) == `{"v":2}`
	})
	if err := a.DeleteLookup(ctx, "sys-x"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "b to see the lookup deleted", func() bool {
		_, err := b.ResolveModule(ctx, "sys-x", "Display", 1)
		return errors.Is(err, ErrSystemNotFound)
	})
}

func TestMetadataRejectsInvalidJSON(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	if err := s.SetMetadata(ctxT(t), "mod-j", []byte(`{`)); !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("err = %v", err)
	}
}

func TestRedisErrorsAreUnavailable(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	r.Stop()
	ctx := ctxT(t)
	if _, err := s.SetStatus(ctx, "m", "k", []byte(`1`)); !errors.Is(err, errkind.Unavailable) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("SetStatus with Redis down: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 1)
	defer cancel()
	<-short.Done()
	if _, err := s.Status(short, "m"); !errors.Is(err, errkind.Timeout) && !errors.Is(err, errkind.Unavailable) {
		t.Fatalf("Status with expired deadline: %v", err)
	}
	if _, err := New(ctx, Options{URL: r.URL}); !errors.Is(err, errkind.Unavailable) {
		t.Fatalf("New with Redis down: %v", err)
	}
	if _, err := New(ctx, Options{}); err == nil {
		t.Fatal("New without URL or Client succeeded")
	}
}

func TestPublish(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r, func(o *Options) { o.Client = nil; o.URL = r.URL })
	msgs := rawSub(t, r, false, ReadyChannel)
	if err := s.Publish(ctxT(t), ReadyChannel, []byte(ReadyMessage)); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, msgs); m.Payload != "ready" {
		t.Fatalf("ready channel carried %q", m.Payload)
	}
}

// TestExecutesResolveThroughARedisOutage: with Redis down, what was cached still answers (Redis
// changes nothing while it is down), and what the node writes itself — the metadata of a module it
// hosts, the lookup of a system it owns — answers from its share without having been cached; what
// is neither fails as unavailable. Once Redis is back the cache is emptied and filled again.
func TestExecutesResolveThroughARedisOutage(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r, fastReconnect)
	ctx := ctxT(t)
	raw := r.Client(t)
	s.Host("mod-own")
	s.OwnSystems([]string{"sys-own"})
	if err := s.SetMetadata(ctx, "mod-own", []byte(`{"own":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLookup(ctx, "sys-own", map[string]string{"Display/1": "mod-own"}); err != nil {
		t.Fatal(err)
	}
	// Written by another node: this one only reads them.
	if err := raw.HSet(ctx, SystemKey("sys-seen"), "Display/1", "mod-seen").Err(); err != nil {
		t.Fatal(err)
	}
	if err := raw.Set(ctx, InterfaceKey("mod-seen"), `{"seen":1}`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := raw.HSet(ctx, SystemKey("sys-never"), "Display/1", "mod-never").Err(); err != nil {
		t.Fatal(err)
	}
	if id, err := s.ResolveModule(ctx, "sys-seen", "Display", 1); err != nil || id != "mod-seen" {
		t.Fatalf("resolve before the outage: %q %v", id, err)
	}
	if md, err := s.Metadata(ctx, "mod-seen"); err != nil || string(md) != `{"seen":1}` {
		t.Fatalf("metadata before the outage: %s %v", md, err)
	}

	r.Stop()
	testutil.Eventually(t, 10*time.Second, "the store to notice Redis is gone", func() bool { return !s.Connected() })
	for _, c := range []struct{ sys, want string }{{"sys-seen", "mod-seen"}, {"sys-own", "mod-own"}} {
		if id, err := s.ResolveModule(ctx, c.sys, "Display", 1); err != nil || id != c.want {
			t.Fatalf("resolve %s with Redis down: %q %v", c.sys, id, err)
		}
	}
	for _, c := range []struct{ mod, want string }{{"mod-seen", `{"seen":1}`}, {"mod-own", `{"own":1}`}} {
		if md, err := s.Metadata(ctx, c.mod); err != nil || string(md) != c.want {
			t.Fatalf("metadata of %s with Redis down: %s %v", c.mod, md, err)
		}
	}
	if _, err := s.ResolveModule(ctx, "sys-never", "Display", 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a system never resolved, with Redis down: %v", err)
	}

	// Back (empty): the cache is emptied, so what only it knew is gone; the share answers still.
	r.Restart(t)
	testutil.Eventually(t, 10*time.Second, "the store back on Redis", s.Connected)
	testutil.Eventually(t, 10*time.Second, "the cache emptied on the return", func() bool {
		_, err := s.ResolveModule(ctx, "sys-seen", "Display", 1)
		return errors.Is(err, ErrSystemNotFound)
	})
	if id, err := s.ResolveModule(ctx, "sys-own", "Display", 1); err != nil || id != "mod-own" {
		t.Fatalf("resolve sys-own after the return: %q %v", id, err)
	}
}
