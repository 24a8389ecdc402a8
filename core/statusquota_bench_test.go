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
	for _, bc := range []struct {
		name string
		rate float64
	}{{"rate", 1e12}, {"off", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			tc := newTestCore(b, roomModel, func(c *Config) {
				c.State = nullStatusState{newFakeState()}
				c.Limits.StatusRate = bc.rate
			})
			h := tc.Host()
			req := &proto.SetStatusRequest{ModuleId: "mod-1", Name: "power", ValueJson: []byte(`{"on":true,"input":"hdmi1"}`)}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := h.SetStatus(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
