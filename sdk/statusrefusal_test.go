package sdk_test

import (
	"context"
	"fmt"
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

func (h *refusingHost) SetStatus(_ context.Context, r *proto.SetStatusRequest, _ ...grpc.CallOption) (*proto.Empty, error) {
	if string(r.ValueJson) == "1" { // a small value, taken
		return &proto.Empty{}, nil
	}
	h.n.Add(1)
	return nil, status.Error(codes.InvalidArgument, `status "x" of module "m1" is 1048577 bytes, more than the 1048576 a driver may set`)
}

// flusher sets a status and flushes, and tells whether it keeps a status.
type flusher struct{ sdk.Base }

type nameArg struct {
	Name  string `json:"name"`
	Value int    `json:"value"`
}

func (f *flusher) Put(ctx context.Context, a nameArg) error {
	f.Set(a.Name, a.Value)
	return f.Flush(ctx)
}

// Get is the status's value, -1 when the module holds none.
func (f *flusher) Get(a nameArg) int {
	v := -1
	f.Status(a.Name, &v)
	return v
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
	exec := func(fn, name string, value int) *proto.ExecResponse {
		t.Helper()
		args := fmt.Sprintf(`{"name": %q, "value": %d}`, name, value)
		resp, err := rt.Exec(ctx, &proto.ExecRequest{ModuleId: "m1", Function: fn, ArgsJson: []byte(args)})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// "x" never taken: the refused value is not kept. "y" taken as 1 first: after a refusal the
	// module holds 1 again, as the engine's readers do.
	if resp := exec("put", "y", 1); resp.Code != 200 {
		t.Fatalf("put y 1: %d %v", resp.Code, resp.GetError())
	}
	for i, name := range []string{"x", "x", "y", "y"} {
		resp := exec("put", name, 2)
		if resp.Code != 400 || resp.GetError().GetClass() != "BadRequest" ||
			resp.GetError().GetMessage() != fmt.Sprintf(`set status %q: status "x" of module "m1" is 1048577 bytes, more than the 1048576 a driver may set`, name) {
			t.Fatalf("put %s 2: %d %v; want 400 BadRequest with the engine's refusal", name, resp.Code, resp.GetError())
		}
		if n := host.n.Load(); n != int64(i+1) {
			t.Fatalf("the host was asked %d times for %d refused puts; want once each", n, i+1)
		}
		want := map[string]string{"x": "-1", "y": "1"}[name]
		if resp := exec("get", name, 0); string(resp.ResultJson) != want {
			t.Fatalf("get %s after a refusal: %s; want %s", name, resp.ResultJson, want)
		}
	}
}
