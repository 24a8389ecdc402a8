package core

import (
	"context"
	"testing"

	"github.com/placeos-go/engine/plugin/proto"
)

// nullStatusState takes every status write at once and keeps nothing: what a status write costs
// in core itself.
type nullStatusState struct{ *fakeState }

func (nullStatusState) SetStatus(context.Context, string, string, []byte) (bool, error) {
	return true, nil
}

// BenchmarkHostSetStatus is one driver status write through Host.SetStatus (checks, gate, the
// owner check, the store's write at no cost), overwriting one status: with the status rate on
// (never reached) and off.
//
//	go test -run '^$' -bench '^BenchmarkHostSetStatus$' -benchmem ./core/
func BenchmarkHostSetStatus(b *testing.B) {
	for _, rate := range []struct {
		name string
		rate float64
	}{{"rate", 1e12}, {"off", -1}} {
		b.Run(rate.name, func(b *testing.B) {
			write := statusWriteLoop(b, rate.rate)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				write()
			}
		})
	}
}

// statusWriteAllocs is what a status write overwriting a status allocates in core, as it did
// before the module's statuses were bounded (the bounds' tally allocates only for a new name).
const statusWriteAllocs = 6

// TestStatusWriteAllocations holds a status write to its allocations (counted, not timed).
func TestStatusWriteAllocations(t *testing.T) {
	write := statusWriteLoop(t, 1e12)
	if n := testing.AllocsPerRun(200, write); n > statusWriteAllocs {
		t.Errorf("a status write allocates %.0f times in core, want at most %d", n, statusWriteAllocs)
	}
}

// statusWriteLoop returns a function that overwrites one status of mod-1 through Host.SetStatus.
func statusWriteLoop(tb testing.TB, rate float64) func() {
	tc := newTestCore(tb, roomModel, func(c *Config) {
		c.State = nullStatusState{newFakeState()}
		c.Limits.StatusRate = rate
	})
	h := tc.Host()
	req := &proto.SetStatusRequest{ModuleId: "mod-1", Name: "power", ValueJson: []byte(`{"on":true,"input":"hdmi1"}`)}
	ctx := context.Background()
	return func() {
		if _, err := h.SetStatus(ctx, req); err != nil {
			tb.Fatal(err)
		}
	}
}
