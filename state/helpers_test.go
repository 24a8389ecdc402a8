package state

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// countingHook counts commands and pipelines sent through a client: each is one round trip. It
// keeps their names too ("pipeline" for a pipeline).
type countingHook struct {
	n     atomic.Int64
	mu    sync.Mutex
	names []string
}

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		h.mu.Lock()
		h.names = append(h.names, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

// sent returns the names of the round trips made since the last call.
func (h *countingHook) sent() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.names
	h.names = nil
	return out
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		h.mu.Lock()
		h.names = append(h.names, "pipeline")
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug, Output: testWriter{t}})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// newStore opens a Store on r through a client whose round trips hook counts.
func newStore(t testing.TB, r *testutil.Redis, mod ...func(*Options)) (*Store, *countingHook) {
	t.Helper()
	hook := &countingHook{}
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	c.AddHook(hook)
	opts := Options{Client: c, Logger: testLogger(t), NodeID: "n1"}
	for _, m := range mod {
		m(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := New(ctx, opts)
	if err != nil {
		t.Fatalf("state.New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close the store: %v", err)
		}
		_ = c.Close()
	})
	return s, hook
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawSub subscribes a plain go-redis client (another "node") and returns its message channel.
func rawSub(t testing.TB, r *testutil.Redis, patterns bool, names ...string) <-chan *redis.Message {
	t.Helper()
	c := r.Client(t)
	ctx := ctxT(t)
	var ps *redis.PubSub
	if patterns {
		ps = c.PSubscribe(ctx, names...)
	} else {
		ps = c.Subscribe(ctx, names...)
	}
	if _, err := ps.Receive(ctx); err != nil { // the subscribe confirmation
		t.Fatalf("raw subscribe: %v", err)
	}
	for range names[1:] {
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatalf("raw subscribe: %v", err)
		}
	}
	t.Cleanup(func() { _ = ps.Close() })
	return ps.Channel()
}

// recvNulls receives n messages and fails t unless they are null on the channel of each name of
// module's status.
func recvNulls(t testing.TB, ch <-chan *redis.Message, module string, names ...string) {
	t.Helper()
	got, want := map[string]string{}, map[string]string{}
	for _, name := range names {
		want[StatusChannel(module, name)] = "null"
		m := recv(t, ch)
		got[m.Channel] = m.Payload
	}
	if !maps.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
}

func recv(t testing.TB, ch <-chan *redis.Message) *redis.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}
