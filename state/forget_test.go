package state

import (
	"errors"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
)

// A module that left the model leaves nothing in Redis: its status hash goes with null published
// on each field's channel, its metadata with an interface-change that drops every node's cached
// copy, its start failure with it; another module keeps all of its own. A second call finds
// nothing and publishes nothing, and the node's share no longer writes the module back after
// Redis restarts empty.
func TestForgetModule(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r, fastReconnect)
	other, _ := newStore(t, r) // a second node, which reads (and caches) the metadata
	ctx := ctxT(t)
	raw := r.Client(t)

	for _, id := range []string{"mod-gone", "mod-kept"} {
		s.Host(id)
		for _, f := range []string{"power", "input", "volume"} {
			if _, err := s.SetStatus(ctx, id, f, []byte(`1`)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetMetadata(ctx, id, []byte(`{"functions":{}}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.SetModuleError(ctx, id, ModuleError{Node: "n1", At: time.Now(), Error: "boom"}); err != nil {
			t.Fatal(err)
		}
	}
	// Read until it stays cached: the interface-change of the write above may reach the other
	// node after its first read, and drop what that read cached.
	testutil.Eventually(t, 10*time.Second, "the other node to cache the metadata (else the test would not show the cache drops it)", func() bool {
		if _, err := other.Metadata(ctx, "mod-gone"); err != nil {
			t.Fatal(err)
		}
		_, ok := other.cache.metadata("mod-gone")
		return ok
	})
	statuses := rawSub(t, r, true, "status/mod-gone/*")
	changes := rawSub(t, r, false, InterfaceChangeChannel)

	n, err := s.ForgetModule(ctx, "mod-gone")
	if err != nil || n != 5 {
		t.Fatalf("ForgetModule = %d, %v; want 5 (3 fields, metadata, start failure)", n, err)
	}
	recvNulls(t, statuses, "mod-gone", "power", "input", "volume")
	if m := recv(t, changes); m.Payload != "mod-gone" {
		t.Fatalf("interface-change carried %q", m.Payload)
	}
	for _, key := range []string{StatusKey("mod-gone"), InterfaceKey("mod-gone")} {
		if n, err := raw.Exists(ctx, key).Result(); err != nil || n != 0 {
			t.Fatalf("%s still exists (%d, %v)", key, n, err)
		}
	}
	if ok, err := raw.HExists(ctx, ModuleErrorsKey, "mod-gone").Result(); err != nil || ok {
		t.Fatalf("module_errors still has mod-gone (%v, %v)", ok, err)
	}
	if _, err := s.Metadata(ctx, "mod-gone"); !errors.Is(err, ErrNoMetadata) {
		t.Fatalf("this node's metadata read after the deletion: %v", err)
	}
	testutil.Eventually(t, 5*time.Second, "the other node to drop its cached metadata", func() bool {
		_, err := other.Metadata(ctx, "mod-gone")
		return errors.Is(err, ErrNoMetadata)
	})
	if !hashIs(t, raw, StatusKey("mod-kept"), map[string]string{"power": "1", "input": "1", "volume": "1"}) {
		t.Fatal("the other module's status changed")
	}
	if rt, err := s.ModuleRuntime(ctx, []string{"mod-kept"}); err != nil || rt[0].Error == nil {
		t.Fatalf("the other module's start failure is gone: %+v, %v", rt, err)
	}

	// Again: nothing left, nothing published. A marker published after it must be the next
	// message on both subscriptions.
	if n, err := s.ForgetModule(ctx, "mod-gone"); err != nil || n != 0 {
		t.Fatalf("second ForgetModule = %d, %v; want 0", n, err)
	}
	for _, ch := range []string{"status/mod-gone/marker", InterfaceChangeChannel} {
		if err := s.Publish(ctx, ch, []byte("marker")); err != nil {
			t.Fatal(err)
		}
	}
	if m := recv(t, statuses); m.Channel != "status/mod-gone/marker" {
		t.Fatalf("the second call published %s %s", m.Channel, m.Payload)
	}
	if m := recv(t, changes); m.Payload != "marker" {
		t.Fatalf("the second call published interface-change %s", m.Payload)
	}

	// The share forgot it: an empty Redis gets the other module back, not this one.
	if mods, _ := s.Hosted(); mods != 1 {
		t.Fatalf("the share holds %d modules, want 1", mods)
	}
	r.Restart(t)
	testutil.Eventually(t, 10*time.Second, "the kept module written back", func() bool {
		return hashIs(t, raw, StatusKey("mod-kept"), map[string]string{"power": "1", "input": "1", "volume": "1"})
	})
	for _, key := range []string{StatusKey("mod-gone"), InterfaceKey("mod-gone")} {
		if n, err := raw.Exists(ctx, key).Result(); err != nil || n != 0 {
			t.Fatalf("%s written back after the module was forgotten (%d, %v)", key, n, err)
		}
	}
}

// With Redis down the deletion fails as unavailable (core keeps it and tries again).
func TestForgetModuleRedisDown(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	r.Stop()
	if _, err := s.ForgetModule(ctxT(t), "mod-x"); !errors.Is(err, errkind.Unavailable) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ForgetModule with Redis down: %v", err)
	}
}
