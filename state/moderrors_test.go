package state

import (
	"errors"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// ModuleRuntime reads each module's connected status and recorded start failure in one round
// trip; Clear forgets a failure; a Redis that is gone is ErrUnavailable, at once when the store
// knows it.
func TestModuleRuntime(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, hook := newStore(t, r)
	ctx := ctxT(t)
	at := time.Unix(1_700_000_000, 0).UTC()
	if err := s.SetModuleError(ctx, "mod-2", ModuleError{Node: "n1", At: at, Error: "OnLoad: bad settings"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetStatus(ctx, "mod-1", "connected", []byte("false")); err != nil {
		t.Fatal(err)
	}
	before := hook.n.Load()
	rts, err := s.ModuleRuntime(ctx, []string{"mod-1", "mod-2", "mod-3"})
	if err != nil {
		t.Fatal(err)
	}
	if n := hook.n.Load() - before; n != 1 {
		t.Fatalf("%d round trips for three modules; want 1", n)
	}
	if string(rts[0].Connected) != "false" || rts[0].Error != nil {
		t.Fatalf("mod-1: %+v", rts[0])
	}
	if e := rts[1].Error; e == nil || e.Node != "n1" || !e.At.Equal(at) || e.Error != "OnLoad: bad settings" || rts[1].Connected != nil {
		t.Fatalf("mod-2: %+v", rts[1])
	}
	if rts[2].Connected != nil || rts[2].Error != nil {
		t.Fatalf("mod-3 (nothing known): %+v", rts[2])
	}
	if err := s.ClearModuleError(ctx, "mod-2"); err != nil {
		t.Fatal(err)
	}
	if rts, err = s.ModuleRuntime(ctx, []string{"mod-2"}); err != nil || rts[0].Error != nil {
		t.Fatalf("after clear: %+v, %v", rts, err)
	}
	r.Stop()
	if _, err := s.ModuleRuntime(ctx, []string{"mod-2"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("with Redis gone: %v; want ErrUnavailable", err)
	}
	// Once the store knows Redis is gone, it answers without trying (the client's dial retries
	// take seconds).
	testutil.Eventually(t, 10*time.Second, "the store to notice Redis is gone", func() bool { return !s.Connected() })
	before = hook.n.Load()
	if _, err := s.ModuleRuntime(ctx, []string{"mod-2"}); !errors.Is(err, ErrUnavailable) || hook.n.Load() != before {
		t.Fatalf("with Redis known gone: %v after %d attempts at Redis; want ErrUnavailable and none", err, hook.n.Load()-before)
	}
}
