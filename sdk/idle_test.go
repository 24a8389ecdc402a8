package sdk_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/sdk/internal/driverrt"
)

// countingHost is a HostClient that counts the statuses it is sent.
type countingHost struct {
	proto.HostClient
	n atomic.Int64
}

func (h *countingHost) SetStatus(context.Context, *proto.SetStatusRequest, ...grpc.CallOption) (*proto.Empty, error) {
	h.n.Add(1)
	return &proto.Empty{}, nil
}

// TestIdleModulesHoldNoGoroutine: a module's status worker runs only while the module has
// statuses to send. 200 modules that each set a status while loading, once the host has them
// all, leave no goroutine behind (a node may host thousands of idle modules); a later status is
// sent by a new worker.
func TestIdleModulesHoldNoGoroutine(t *testing.T) {
	rt, err := driverrt.New(newTester, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	host := &countingHost{}
	rt.Connect(host)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	base := runtime.NumGoroutine()
	const n = 200
	for i := range n {
		if _, err := rt.Start(ctx, &proto.StartRequest{Module: &proto.Module{Id: fmt.Sprintf("m%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("%s: not within the test's bound (%d statuses sent, %d goroutines, %d before the modules)",
					what, host.n.Load(), runtime.NumGoroutine(), base)
			case <-tick():
			}
		}
	}
	waitFor("every module's status sent", func() bool { return host.n.Load() == n })
	waitFor("no goroutine left per idle module", func() bool { return runtime.NumGoroutine() <= base })

	// A reloaded module sets its status again: a new worker sends it and goes.
	if _, err := rt.Stop(ctx, &proto.ModuleRequest{ModuleId: "m0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Start(ctx, &proto.StartRequest{Module: &proto.Module{Id: "m0"}}); err != nil {
		t.Fatal(err)
	}
	waitFor("the reloaded module's status sent", func() bool { return host.n.Load() == n+1 })
	waitFor("its worker gone again", func() bool { return runtime.NumGoroutine() <= base })
}
