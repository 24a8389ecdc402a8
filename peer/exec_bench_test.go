package peer

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"testing"

	"github.com/placeos-go/engine/call"
)

// echoLocal answers every execute with its arguments at once: what is left is the forwarding.
type echoLocal struct{}

func (echoLocal) ExecuteHere(_ context.Context, req call.Request) (call.Result, error) {
	return call.Result{ModuleID: req.Target.ModuleID, Value: req.Args, Code: http.StatusOK}, nil
}

func (echoLocal) DebugHere(context.Context, string, func(level, msg string)) (func(), error) {
	return func() {}, nil
}

func (echoLocal) NodeStatus(context.Context) (any, error) { return map[string]any{}, nil }

// BenchmarkForward: one forwarded execute, client and owner in this process over loopback, with
// the cluster greeting (no TLS), over the exec protocol and over the HTTP route it replaced; each
// with one caller per CPU, and with 16 callers at once (-c16), as the cluster benchmark's 16
// clients, where frames written together share a write.
//
//	go test -run '^$' -bench Forward -benchmem ./peer/
func BenchmarkForward(b *testing.B) {
	proof := Proof{Secret: "bench-secret"}
	port, err := Listen("127.0.0.1:0", proof, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(ServerConfig{Local: echoLocal{}})
	srv.Serve(port)
	b.Cleanup(func() {
		_ = srv.Close(context.Background())
		_ = port.Close()
	})
	addr := port.Addr().String()
	req := call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "echo", Args: json.RawMessage(`[1]`), RequestID: "rid-1"}
	for _, path := range []struct {
		name    string
		callers int // at once; 0: one per CPU
		exec    func(c *Client, ctx context.Context) (int, []byte, error)
	}{
		{"frames", 0, func(c *Client, ctx context.Context) (int, []byte, error) { return c.execFrames(ctx, addr, &req) }},
		{"http", 0, func(c *Client, ctx context.Context) (int, []byte, error) { return c.execHTTP(ctx, addr, &req) }},
		{"frames-c16", 16, func(c *Client, ctx context.Context) (int, []byte, error) { return c.execFrames(ctx, addr, &req) }},
		{"http-c16", 16, func(c *Client, ctx context.Context) (int, []byte, error) { return c.execHTTP(ctx, addr, &req) }},
	} {
		b.Run(path.name, func(b *testing.B) {
			c := NewClient(proof)
			b.Cleanup(c.Close)
			if path.callers > 0 {
				b.SetParallelism(max(path.callers/runtime.GOMAXPROCS(0), 1))
			}
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if status, body, err := path.exec(c, ctx); err != nil || status != http.StatusOK || string(body) != "[1]" {
						b.Errorf("%d %s %v", status, body, err)
						return
					}
				}
			})
		})
	}
}
