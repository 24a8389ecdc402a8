package state

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// KeyedIDs finds every module and system Redis holds keys of, however the keys came to be
// (status only, metadata only, a start failure only), across SCAN pages, each id once, and
// nothing else that shares the keyspace (a status channel's name is not a key; other keys are
// not engine keys).
func TestKeyedIDs(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx := ctxT(t)
	raw := r.Client(t)

	// The node's marker (loss.go) is no key the sweep may take for a module's or a system's.
	if n := raw.Exists(ctx, MarkerKey("n1")).Val(); n != 1 {
		t.Fatal("no node marker in Redis")
	}
	mods, syss, err := s.KeyedIDs(ctx)
	if err != nil || len(mods) != 0 || len(syss) != 0 {
		t.Fatalf("Redis with only the node's marker: %q %q %v", mods, syss, err)
	}
	if _, err := s.SetStatus(ctx, "mod-status", "power", []byte(`true`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMetadata(ctx, "mod-meta", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetModuleError(ctx, "mod-failed", ModuleError{Node: "n1", At: time.Now(), Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetStatus(ctx, "mod-both", "power", []byte(`true`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMetadata(ctx, "mod-both", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLookup(ctx, "sys-1", map[string]string{"Display/1": "mod-both"}); err != nil {
		t.Fatal(err)
	}
	// More keys than one SCAN page holds.
	want := []string{"mod-both", "mod-failed", "mod-meta", "mod-status"}
	for i := range 2 * sweepScanCount {
		id := fmt.Sprintf("mod-page-%05d", i)
		if err := raw.HSet(ctx, StatusKey(id), "x", "1").Err(); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	slices.Sort(want)
	if err := raw.Set(ctx, "unrelated", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}

	mods, syss, err = s.KeyedIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(mods, want) {
		t.Fatalf("modules: %d ids, want %d (first %q)", len(mods), len(want), mods[:min(5, len(mods))])
	}
	if !slices.Equal(syss, []string{"sys-1"}) {
		t.Fatalf("systems %q, want [sys-1]", syss)
	}

	r.Stop()
	if _, _, err := s.KeyedIDs(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("with Redis gone: %v; want ErrUnavailable", err)
	}
}
