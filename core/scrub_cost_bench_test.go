package core

import (
	"fmt"
	"testing"
)

// BenchmarkScrubAnyModule: a log line scrubbed with the values of every module a node holds
// (Scrub("")), the cost each driver log line pays when the module it names is not trusted to
// say whose values it may quote.
func BenchmarkScrubAnyModule(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tc := newTestCore(b, "", nil)
			tc.mu.Lock()
			for i := range n {
				tc.modules[fmt.Sprintf("mod-%d", i)] = &moduleState{secrets: []string{fmt.Sprintf("password-%06d", i), fmt.Sprintf("pin-%06d", i)}}
			}
			tc.mu.Unlock()
			line := `{"@level":"info","@message":"polled the device: POWER=ON input=HDMI1 volume 42","module":"mod-7","@timestamp":"2026-12-06T07:00:00Z"}`
			b.ReportAllocs()
			for b.Loop() {
				_ = tc.Scrub("", line)
			}
		})
	}
}
