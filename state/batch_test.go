package state

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/placeos-go/engine/internal/testutil"
)

// TestWritesCoalesce: many module writes at once (status clears, metadata, status sets of 1000
// modules, 64 at a time) reach Redis in far fewer round trips than writes, each with its own
// answer and effect, every change announced.
func TestWritesCoalesce(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, hook := newStore(t, r)
	ctx := ctxT(t)
	const modules, workers = 1000, 64
	rc := r.Client(t)
	for i := range modules { // something to clear
		if err := rc.HSet(ctx, StatusKey(fmt.Sprintf("mod-%d", i)), "old", "1").Err(); err != nil {
			t.Fatal(err)
		}
	}
	msgs := rawSub(t, r, true, "status/*")
	before := hook.n.Load()
	var wg sync.WaitGroup
	ids := make(chan int)
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for i := range ids {
				id := fmt.Sprintf("mod-%d", i)
				s.Host(id)
				if err := s.ClearStatus(ctx, id); err != nil {
					errs <- err
					return
				}
				if err := s.SetMetadata(ctx, id, []byte(`{"interface":{}}`)); err != nil {
					errs <- err
					return
				}
				changed, err := s.SetStatus(ctx, id, "n", []byte(fmt.Sprint(i)))
				if err != nil || !changed {
					errs <- fmt.Errorf("set %s: changed %v, %v", id, changed, err)
					return
				}
				if changed, err := s.SetStatus(ctx, id, "n", []byte(fmt.Sprint(i))); err != nil || changed {
					errs <- fmt.Errorf("set %s again: changed %v, %v", id, changed, err)
					return
				}
			}
		})
	}
	for i := range modules {
		ids <- i
	}
	close(ids)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	trips := hook.n.Load() - before
	t.Logf("%d writes in %d round trips", 4*modules, trips)
	if trips >= 2*modules {
		t.Errorf("%d writes took %d round trips: not coalesced", 4*modules, trips)
	}
	for i := range modules {
		id := fmt.Sprintf("mod-%d", i)
		st, err := s.Status(ctx, id)
		if err != nil || len(st) != 1 || st["n"] != fmt.Sprint(i) {
			t.Fatalf("%s: %v, %v", id, st, err)
		}
		if md, err := rc.Get(ctx, InterfaceKey(id)).Result(); err != nil || md != `{"interface":{}}` {
			t.Fatalf("%s metadata: %q, %v", id, md, err)
		}
	}
	// Every module's clear (null for "old") and set were announced: 2000 messages.
	got := map[string]int{}
	for range 2 * modules {
		m := recv(t, msgs)
		got[m.Payload]++
	}
	if got["null"] != modules {
		t.Fatalf("announcements: %d nulls, want %d", got["null"], modules)
	}
}

// TestWritesAfterScriptFlush: a Redis that lost its scripts (a restart, SCRIPT FLUSH) still takes
// every kind of write, alone and coalesced.
func TestWritesAfterScriptFlush(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx := ctxT(t)
	rc := r.Client(t)
	for round := range 2 {
		if err := rc.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				id := fmt.Sprintf("mod-%d", i)
				if err := s.SetMetadata(ctx, id, []byte(`{}`)); err != nil {
					t.Errorf("metadata %s: %v", id, err)
				}
				if _, err := s.SetStatus(ctx, id, "round", []byte(fmt.Sprint(round))); err != nil {
					t.Errorf("status %s: %v", id, err)
				}
			})
		}
		wg.Wait()
		if v, err := rc.HGet(ctx, StatusKey("mod-49"), "round").Result(); err != nil || v != fmt.Sprint(round) {
			t.Fatalf("round %d: %q, %v", round, v, err)
		}
		if err := rc.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.ClearStatus(ctx, "mod-1"); err != nil {
			t.Fatal(err)
		}
		if n, _ := rc.Exists(ctx, StatusKey("mod-1")).Result(); n != 0 {
			t.Fatal("mod-1's status not cleared")
		}
	}
}

// TestWriteGivenUpIsNotSent: a write whose caller's context has ended before it is sent is not
// sent, and the caller hears why.
func TestWriteGivenUpIsNotSent(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.SetStatus(ctx, "mod-x", "power", []byte(`true`)); err == nil {
		t.Fatal("a write with its context ended succeeded")
	}
	if n, _ := r.Client(t).Exists(ctxT(t), StatusKey("mod-x")).Result(); n != 0 {
		t.Fatal("a write given up was sent")
	}
}
