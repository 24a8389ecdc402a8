package core

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// recordingStore keeps what the gate wrote, in order.
type recordingStore struct {
	mu     sync.Mutex
	writes []string
	last   map[string]string
}

func (r *recordingStore) write(_ context.Context, module, name string, v []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, module+"."+name+"="+string(v))
	if r.last == nil {
		r.last = map[string]string{}
	}
	r.last[module+"."+name] = string(v)
	return nil
}

func (r *recordingStore) value(key string) (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[key], len(r.writes)
}

// Over its rate a module's writes wait in its gate: the burst passes at once, then the latest
// value of each status is written as tokens return; every status ends on its last value, the
// intermediate ones are reported coalesced, and another module's writes are not held up. The
// gate of a module no longer hosted is forgotten once it is drained.
func TestStatusGateKeepsTheLastValue(t *testing.T) {
	t.Parallel()
	var g statusGates
	var st recordingStore
	const rate = 100 // bursts of 500
	var delayed, coalesced int
	for i := range 2000 {
		res, _, err := g.set(t.Context(), rate, "mod-flood", fmt.Sprint("s", i%3), fmt.Appendf(nil, "%d", i), st.write)
		if err != nil {
			t.Fatal(err)
		}
		if res.delayed {
			delayed++
			// None of these writers waits for its answer (as many goroutines writing at once):
			// the module's answers are spaced 10 ms apart (100/s) one after the other, up to
			// maxPace; tokens returning while the loop runs can shorten it a little.
			want := min(time.Duration(delayed)*10*time.Millisecond, maxPace)
			if res.pace < want-50*time.Millisecond || res.pace > want+10*time.Millisecond {
				t.Fatalf("delayed write %d paced %s; want %s", delayed, res.pace, want)
			}
		}
		if res.coalesced {
			coalesced++
		}
	}
	// Tokens that return while the loop runs (100/s) let a few more through on a slow machine.
	if now := 2000 - delayed; now < 500 || now > 520 || coalesced < delayed-3-10 {
		t.Fatalf("writes made at once %d, delayed %d, coalesced %d; want the 500 of the burst, and all but a few delayed coalesced", now, delayed, coalesced)
	}
	// A healthy module is not held up by the flood.
	if res, _, err := g.set(t.Context(), rate, "mod-healthy", "power", []byte("true"), st.write); res.delayed || err != nil {
		t.Fatalf("the healthy module's write: delayed %v, %v", res.delayed, err)
	}
	testutil.Eventually(t, 5*time.Second, "the last value of every status", func() bool {
		a, _ := st.value("mod-flood.s0")
		b, _ := st.value("mod-flood.s1")
		c, _ := st.value("mod-flood.s2")
		return a == "1998" && b == "1999" && c == "1997"
	})
	g.forget("mod-flood")
	g.forget("mod-healthy")
	testutil.Eventually(t, 5*time.Second, "gates forgotten", func() bool { return g.count() == 0 })
	// Off: every write is made at once (the gate only counts it against the module's bounds).
	if res, _, err := g.set(t.Context(), -1, "mod-x", "a", []byte("1"), st.write); res.delayed || err != nil {
		t.Fatalf("rate off: delayed %v, %v", res.delayed, err)
	}
	if v, _ := st.value("mod-x.a"); v != "1" {
		t.Fatalf("rate off: the write made %q, want 1", v)
	}
}

// A driver that waits for each answer (an SDK driver's outbox, one write at a time) is paced one
// interval of the rate per write, however many writes it has made.
func TestStatusGatePacesAWaitingWriter(t *testing.T) {
	t.Parallel()
	var g statusGates
	var st recordingStore
	const rate = 100 // bursts of 500, then 10 ms apart
	delayed := 0
	for i := 0; delayed < 20; i++ {
		res, _, err := g.set(t.Context(), rate, "mod-1", "level", fmt.Appendf(nil, "%d", i), st.write)
		if err != nil {
			t.Fatal(err)
		}
		if !res.delayed {
			continue
		}
		delayed++
		if res.pace > 11*time.Millisecond {
			t.Fatalf("delayed write %d of a writer that waits its answers paced %s; want at most the 10 ms interval", delayed, res.pace)
		}
		time.Sleep(res.pace) // the driver waits for its answer
	}
}

// A status delayed by the gate is never overwritten by an older value: once values wait, new
// writes of the module wait behind them.
func TestStatusGateKeepsOrder(t *testing.T) {
	t.Parallel()
	var g statusGates
	var st recordingStore
	for i := range 20 {
		if _, _, err := g.set(t.Context(), 1, "mod-1", "level", fmt.Appendf(nil, "%d", i), st.write); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 5*time.Second, "the last value", func() bool { v, _ := st.value("mod-1.level"); return v == "19" })
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, w := range st.writes {
		if want := fmt.Sprintf("mod-1.level=%d", i); i < 5 && w != want {
			t.Fatalf("write %d = %s, want %s (the burst, in order)", i, w, want)
		}
	}
	if n := len(st.writes); n != 6 {
		t.Fatalf("%d writes (%v), want the burst of 5 and the last value", n, st.writes)
	}
}

// Closing the gates writes what waits at once (the last value of each status lands even though
// the rate has no token for it), stops the scheduled flushes, and later writes pass ungated.
func TestStatusGatesClose(t *testing.T) {
	t.Parallel()
	var g statusGates
	var st recordingStore
	for i := range 20 { // a rate of 1/s: the burst of 5 is written, the rest waits
		if _, _, err := g.set(t.Context(), 1, "mod-1", "level", fmt.Appendf(nil, "%d", i), st.write); err != nil {
			t.Fatal(err)
		}
	}
	g.close(st.write)
	if v, n := st.value("mod-1.level"); v != "19" || n != 6 {
		t.Fatalf("after close: last value %q in %d writes, want 19 in 6 (the burst and the last)", v, n)
	}
	res, _, err := g.set(t.Context(), 1, "mod-1", "level", []byte("20"), st.write)
	if v, n := st.value("mod-1.level"); err != nil || res.delayed || v != "20" || n != 7 {
		t.Fatalf("a write after close: %+v %v, last %q in %d writes; want it written at once", res, err, v, n)
	}
	g.mu.Lock()
	gate := g.gates["mod-1"]
	g.mu.Unlock()
	gate.mu.Lock()
	defer gate.mu.Unlock()
	if gate.armed || len(gate.pending) > 0 || gate.timer.Stop() {
		t.Fatal("a flush is still scheduled after close")
	}
}
