package peer

import (
	"context"
	"encoding/json"
	"net/http"
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
// the cluster greeting (no TLS), over the exec protocol and over the HTTP route it replaced.
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
		name string
		exec func(c *Client, ctx context.Context) (int, []byte, error)
	}{
		{"frames", func(c *Client, ctx context.Context) (int, []byte, error) { return c.execFrames(ctx, addr, &req) }},
		{"http", func(c *Client, ctx context.Context) (int, []byte, error) { return c.execHTTP(ctx, addr, &req) }},
	} {
		b.Run(path.name, func(b *testing.B) {
			c := NewClient(proof)
			b.Cleanup(c.Close)
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
