package core

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/metrics"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/raftfsm"
)

// benchSup answers every execute at once with the same response, recording nothing.
type benchSup struct {
	*fakeSup
	resp *proto.ExecResponse
}

func (s benchSup) Exec(context.Context, *proto.ExecRequest) (*proto.ExecResponse, error) {
	return s.resp, nil
}

// benchState answers lookups and metadata from memory without copying, as the cache of package
// state does on a hit.
type benchState struct {
	*fakeState
	lookup map[string]string
	meta   []byte
}

func (s benchState) ResolveModule(_ context.Context, _, name string, index int) (string, error) {
	return s.lookup[lookupKey(name, index)], nil
}

func (s benchState) Metadata(context.Context, string) ([]byte, error) { return s.meta, nil }

func lookupKey(name string, index int) string {
	if name == "Display" && index == 1 {
		return "Display/1"
	}
	return ""
}

// BenchmarkExecute is core.Execute with a supervisor and a state that cost nothing, on a node of
// a one-node cluster (a ring, as a real node has): what the one execute path allocates itself.
//
//	go test -run '^$' -bench '^BenchmarkExecute$' -benchmem ./core/
func BenchmarkExecute(b *testing.B) {
	execute := executeLoop(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		execute()
	}
}

// executeAllocs is what an execute may allocate in core: the deadline (context.WithTimeout: its
// context, timer and two closures) and the request to the supervisor. See TestExecuteAllocations.
const executeAllocs = 5

// TestExecuteAllocations holds the one execute path to its allocations per call (counted, not
// timed: the count is deterministic). Every allocation is a cost on each of the node's executes;
// if a change needs one more, say why here and raise executeAllocs.
func TestExecuteAllocations(t *testing.T) {
	execute := executeLoop(t)
	if n := testing.AllocsPerRun(200, execute); n > executeAllocs {
		t.Errorf("an execute allocates %.0f times in core, want at most %d (go test -run '^$' -bench '^BenchmarkExecute$' -benchmem -memprofile mem.out ./core/ shows where)", n, executeAllocs)
	}
}

// executeLoop returns a function that makes one execute (positional arguments, a system target).
func executeLoop(tb testing.TB) func() {
	tb.Helper()
	st := newFakeState()
	bs := benchState{fakeState: st, lookup: map[string]string{"Display/1": "mod-1"}, meta: []byte(displayMeta)}
	cl := &fakeCluster{nodes: []raftfsm.Node{{ID: "n1", Up: true, RaftAddr: "127.0.0.1:1"}}, epoch: 1, leader: true, caughtUp: true}
	tc := newTestCore(tb, roomModel, func(c *Config) {
		c.State = bs
		c.Cluster = cl
		c.Metrics = metrics.New()
	})
	tc.Core.sup = benchSup{fakeSup: tc.sup, resp: &proto.ExecResponse{ResultJson: []byte("[1]"), Code: 200}}
	tc.sup.meta = displayMeta
	tc.reconcile(context.Background())
	req := call.Request{
		Target: call.Target{SystemID: "sys-1", Name: "Display", Index: 1}, Function: "volume",
		Args: json.RawMessage(`[5, true]`), Caller: auth.Caller{Clearance: auth.ClearanceAdmin}, RequestID: "3f1c2a4e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
	}
	ctx := context.Background()
	return func() {
		if _, err := tc.Execute(ctx, req); err != nil {
			tb.Fatal(err)
		}
	}
}
