package sdk_test

import (
	"context"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/internal/driverrt"
)

// refusingHost refuses every status as the engine refuses one over its size.
type refusingHost struct {
	proto.HostClient
	n atomic.Int64
}

func (h *refusingHost) SetStatus(context.Context, *proto.SetStatusRequest, ...grpc.CallOption) (*proto.Empty, error) {
	h.n.Add(1)
	return nil, status.Error(codes.InvalidArgument, `status "x" of module "m1" is 1048577 bytes, more than the 1048576 a driver may set`)
}

// flusher sets a status and flushes, and tells whether it keeps a status.
type flusher struct{ sdk.Base }

type nameArg struct {
	Name string `json:"name"`
}

func (f *flusher) Put(ctx context.Context, a nameArg) error {
	f.Set(a.Name, 1)
	return f.Flush(ctx)
}

func (f *flusher) Has(a nameArg) bool {
	var v int
	return f.Status(a.Name, &v)
}

// A status the engine refuses is asked once (a refusal is not retried), comes back from Flush as
// the *sdk.Error the function's caller sees (400 BadRequest with the engine's words), and is not
// kept: Status does not report it, and setting it again asks the engine again.
func TestStatusRefusal(t *testing.T) {
	t.Parallel()
	rt, err := driverrt.New(func() *flusher { return &flusher{} }, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	host := &refusingHost{}
	rt.Connect(host)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if _, err := rt.Start(ctx, &proto.StartRequest{Module: &proto.Module{Id: "m1"}}); err != nil {
		t.Fatal(err)
	}
	exec := func(fn string) *proto.ExecResponse {
		t.Helper()
		resp, err := rt.Exec(ctx, &proto.ExecRequest{ModuleId: "m1", Function: fn, ArgsJson: []byte(`{"name": "x"}`)})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for i := range 2 {
		resp := exec("put")
		if resp.Code != 400 || resp.GetError().GetClass() != "BadRequest" ||
			resp.GetError().GetMessage() != `set status "x": status "x" of module "m1" is 1048577 bytes, more than the 1048576 a driver may set` {
			t.Fatalf("put: %d %v; want 400 BadRequest with the engine's refusal", resp.Code, resp.GetError())
		}
		if n := host.n.Load(); n != int64(i+1) {
			t.Fatalf("the host was asked %d times for %d puts; want once each", n, i+1)
		}
		if resp := exec("has"); string(resp.ResultJson) != "false" {
			t.Fatalf("has: %s; want the refused status not kept", resp.ResultJson)
		}
	}
}
