package subscriptions

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/state"
)

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newStore(t testing.TB, r *testutil.Redis) *state.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Debug, Output: testWriter{t}})
	s, err := state.New(ctx, state.Options{URL: r.URL, Logger: log, IdleTimeout: 200 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("state.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newManager(t testing.TB) (*Manager, *state.Store, *testutil.Redis) {
	t.Helper()
	r := testutil.StartRedis(t)
	st := newStore(t, r)
	m := New(st, hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: testWriter{t}}))
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close the manager: %v", err)
		}
	})
	return m, st, r
}

// recorder collects delivered values.
type recorder struct {
	mu   sync.Mutex
	vals []string
}

func (r *recorder) fn(v []byte) {
	r.mu.Lock()
	r.vals = append(r.vals, string(v))
	r.mu.Unlock()
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.vals...)
}

// waitVals waits until r has received exactly want.
func waitVals(t testing.TB, r *recorder, want ...string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, fmt.Sprintf("values %q", want), func() bool { return fmt.Sprint(r.get()) == fmt.Sprint(want) })
}

// settle proves that nothing more is delivered: a marker change on another status of the same
// module, published after everything else, arrives on a second watch while the first saw nothing new.
func settle(t testing.TB, m *Manager, st *state.Store, mod string, r *recorder) {
	t.Helper()
	before := len(r.get())
	marker := &recorder{}
	defer watchModule(t, m, mod, "zz_marker", marker.fn)()
	set(t, st, mod, "zz_marker", fmt.Sprintf("%d", time.Now().UnixNano()))
	testutil.Eventually(t, 10*time.Second, "marker", func() bool { return len(marker.get()) > 0 })
	if got := r.get(); len(got) != before {
		t.Fatalf("unexpected deliveries: %q", got[before:])
	}
}

// watchModule starts a watch of mod's status name and returns its cancel.
func watchModule(t testing.TB, m *Manager, mod, name string, fn func([]byte)) (cancel func()) {
	t.Helper()
	cancel, err := m.WatchModule(context.Background(), mod, name, fn)
	if err != nil {
		t.Fatalf("watch %s/%s: %v", mod, name, err)
	}
	return cancel
}

// watchSystem starts a watch of status name of the module sys calls module/index.
func watchSystem(t testing.TB, m *Manager, sys, module string, index int, name string, fn func([]byte)) (cancel func()) {
	t.Helper()
	cancel, err := m.WatchSystem(context.Background(), sys, module, index, name, fn)
	if err != nil {
		t.Fatalf("watch %s %s/%d %s: %v", sys, module, index, name, err)
	}
	return cancel
}

// stored is the value of mod's status name in Redis, which must be set.
func stored(t testing.TB, st *state.Store, mod, name string) string {
	t.Helper()
	v, ok, err := st.StatusValue(context.Background(), mod, name)
	if err != nil || !ok {
		t.Fatalf("status %s/%s: %q, set %v, %v", mod, name, v, ok, err)
	}
	return string(v)
}

// hammer sets mod's status name to *n+1, *n+2, ... (counting in *n) as fast as it can until
// stop is closed, then closes done.
func hammer(t testing.TB, st *state.Store, mod, name string, n *int, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		default:
		}
		*n++
		if _, err := st.SetStatus(context.Background(), mod, name, []byte(fmt.Sprint(*n))); err != nil {
			t.Errorf("set %s/%s: %v", mod, name, err)
			return
		}
	}
}

func set(t testing.TB, st *state.Store, mod, name, val string) {
	t.Helper()
	var v []byte
	if val != "" {
		v = []byte(val)
	}
	if _, err := st.SetStatus(context.Background(), mod, name, v); err != nil {
		t.Fatal(err)
	}
}

func TestWatchModule(t *testing.T) {
	t.Parallel()
	m, st, _ := newManager(t)
	set(t, st, "mod-1", "power", "true")
	rec := &recorder{}
	cancel, err := m.WatchModule(context.Background(), "mod-1", "power", rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	waitVals(t, rec, "true")
	set(t, st, "mod-1", "power", "false")
	set(t, st, "mod-1", "power", "") // delete
	set(t, st, "mod-1", "power", `{"a":1}`)
	waitVals(t, rec, "true", "false", "null", `{"a":1}`)

	cancel()
	if m.Count() != 0 {
		t.Fatalf("count after cancel = %d", m.Count())
	}
	set(t, st, "mod-1", "power", "1")
	settle(t, m, st, "mod-1", rec)
}

func TestWatchMissingStatusSendsNothingFirst(t *testing.T) {
	t.Parallel()
	m, st, _ := newManager(t)
	rec := &recorder{}
	defer watchModule(t, m, "mod-1", "input", rec.fn)()
	settle(t, m, st, "mod-1", rec)
	set(t, st, "mod-1", "input", `"hdmi"`)
	waitVals(t, rec, `"hdmi"`)
}

// TestNoGap starts watches while a writer changes the value as fast as it can: whatever the
// interleaving, the last value delivered must be the stored one. (A change whose message is still
// in flight when the read returns can show once more after the newer value read; see doc.go.)
func TestNoGap(t *testing.T) {
	t.Parallel()
	m, st, _ := newManager(t)
	for i := 0; i < 30; i++ {
		name := fmt.Sprintf("level%d", i)
		set(t, st, "mod-r", name, "0")
		stop, done := make(chan struct{}), make(chan struct{})
		go hammer(t, st, "mod-r", name, new(int), stop, done)
		rec := &recorder{}
		cancel := watchModule(t, m, "mod-r", name, rec.fn)
		testutil.Eventually(t, 10*time.Second, "first value", func() bool { return len(rec.get()) > 0 })
		close(stop)
		<-done
		final := stored(t, st, "mod-r", name)
		testutil.Eventually(t, 10*time.Second, "final value "+final, func() bool {
			v := rec.get()
			return v[len(v)-1] == final
		})
		cancel()
	}
}

func TestWatchSystemFollowsLookup(t *testing.T) {
	t.Parallel()
	m, st, _ := newManager(t)
	ctx := context.Background()
	set(t, st, "mod-a", "power", "true")
	set(t, st, "mod-b", "power", "false")

	rec := &recorder{}
	cancel, err := m.WatchSystem(ctx, "sys-1", "Display", 2, "power", rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	// The system does not exist yet: nothing arrives, and that is not an error.
	settle(t, m, st, "mod-a", rec)

	if err := st.SetLookup(ctx, "sys-1", map[string]string{"Display/1": "mod-b", "Display/2": "mod-a"}); err != nil {
		t.Fatal(err)
	}
	waitVals(t, rec, "true")
	// Remapped to another module: its current value arrives.
	if err := st.SetLookup(ctx, "sys-1", map[string]string{"Display/1": "mod-a", "Display/2": "mod-b"}); err != nil {
		t.Fatal(err)
	}
	waitVals(t, rec, "true", "false")
	set(t, st, "mod-a", "power", "false") // no longer watched
	set(t, st, "mod-b", "power", "true")
	waitVals(t, rec, "true", "false", "true")
	// Remapped to a module without the status: the place has no value now, so null.
	if err := st.SetLookup(ctx, "sys-1", map[string]string{"Display/1": "mod-a", "Display/2": "mod-c"}); err != nil {
		t.Fatal(err)
	}
	waitVals(t, rec, "true", "false", "true", "null")
	set(t, st, "mod-c", "power", "true")
	waitVals(t, rec, "true", "false", "true", "null", "true")
	// Remapped to a module with the same value: nothing new to say.
	if err := st.SetLookup(ctx, "sys-1", map[string]string{"Display/1": "mod-a", "Display/2": "mod-b"}); err != nil {
		t.Fatal(err)
	}
	set(t, st, "mod-b", "power", "true")
	settle(t, m, st, "mod-b", rec)
	// Removed: the place emptied, which reads as null; then delivery stops.
	if err := st.SetLookup(ctx, "sys-1", map[string]string{"Display/1": "mod-a"}); err != nil {
		t.Fatal(err)
	}
	waitVals(t, rec, "true", "false", "true", "null", "true", "null")
	set(t, st, "mod-b", "power", "false")
	settle(t, m, st, "mod-b", rec)
	if got := rec.get(); len(got) != 6 {
		t.Fatalf("got %q", got)
	}
}

func TestWatchSurvivesRedisRestart(t *testing.T) {
	t.Parallel()
	m, st, r := newManager(t)
	ctx := context.Background()
	set(t, st, "mod-a", "power", "true")
	if err := st.SetLookup(ctx, "sys-1", map[string]string{"Display/1": "mod-a"}); err != nil {
		t.Fatal(err)
	}
	direct, indirect, pendingFirst := &recorder{}, &recorder{}, &recorder{}
	defer watchModule(t, m, "mod-a", "power", direct.fn)()
	defer watchSystem(t, m, "sys-1", "Display", 1, "power", indirect.fn)()
	waitVals(t, direct, "true")
	waitVals(t, indirect, "true")

	r.Stop()
	// A watch made while Redis is down gets its first value once Redis is back.
	defer watchModule(t, m, "mod-a", "volume", pendingFirst.fn)()
	r.Restart(t)

	// The restarted Redis lost everything: the delivered value is gone, which watchers hear as null.
	waitVals(t, direct, "true", "null")
	testutil.Eventually(t, 10*time.Second, "redis up", st.Connected)
	set(t, st, "mod-a", "volume", "40")
	waitVals(t, pendingFirst, "40")
	set(t, st, "mod-a", "power", "false")
	waitVals(t, direct, "true", "null", "false")

	// The system lookup is rebuilt by its owner after a restart; the indirect watch follows it.
	if err := st.SetLookup(ctx, "sys-1", map[string]string{"Display/1": "mod-a"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "indirect after restart", func() bool {
		v := indirect.get()
		return v[len(v)-1] == "false"
	})
}

func TestCloseReleasesWatches(t *testing.T) {
	t.Parallel()
	m, _, _ := newManager(t)
	for i := 0; i < 10; i++ {
		if _, err := m.WatchSystem(context.Background(), "sys-x", "Display", i, "power", func([]byte) {}); err != nil {
			t.Fatal(err)
		}
	}
	if m.Count() != 10 {
		t.Fatalf("count = %d", m.Count())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m.Count() != 0 {
		t.Fatalf("count after close = %d", m.Count())
	}
	if _, err := m.WatchModule(context.Background(), "m", "s", func([]byte) {}); err == nil {
		t.Fatal("watch after close accepted")
	}
}
