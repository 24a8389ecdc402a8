package core

import (
	"context"
	"sync"
	"time"

	"github.com/placeos-go/engine/internal/tokens"
)

// statusFlushTimeout bounds one delayed status write (the driver's own call has returned).
const statusFlushTimeout = 10 * time.Second

// statusWriteTimeout bounds one status write a driver waits for (writeStatus).
const statusWriteTimeout = time.Second

// statusGates cap each module's status writes at Limits.StatusRate. The SDK already coalesces a
// module's writes, but a driver built without it (or a hostile one) can send tens of thousands a
// second, each a Redis write and a publish every watcher of the status receives. Over the rate
// the latest value of each status waits in its module's gate and is written when the bucket
// refills: watchers miss intermediate values, never the last one.
type statusGates struct {
	mu     sync.Mutex
	gates  map[string]*statusGate
	closed bool // Core.Close: values waiting were written, later writes go straight through
}

// statusGate is one module's bucket and the values waiting for it.
type statusGate struct {
	// mu is held across each write, so one module's writes reach the store in the order they
	// were made (a delayed value is never overwritten by an older one).
	mu      sync.Mutex
	b       tokens.Bucket
	pending map[string][]byte // status name → latest value over the rate (nil: delete)
	armed   bool              // a flush is scheduled
	answer  time.Time         // when the latest delayed write's answer is due (pace)
	timer   *time.Timer       // the scheduled flush
	gone    bool              // the module is no longer hosted: forget the gate once drained
	tally   statusTally       // what the module's statuses hold (statusquota.go)
}

// writeFn writes one status (nil value deletes it).
type writeFn func(ctx context.Context, moduleID, name string, value []byte) error

// gateResult tells how the gate took a write: delayed (kept for a flush), coalesced (a value
// waiting for the same status was replaced) and pace, how long the caller should hold its answer.
type gateResult struct {
	delayed, coalesced bool
	pace               time.Duration
}

// set writes the status now if the module's bucket allows, else keeps it for the next flush.
// A delayed write's answer is paced until the next token is due: a driver that writes in a loop
// (an SDK driver's outbox does, one write at a time) then runs at the rate instead of spending
// the node's CPU on calls whose values are mostly dropped, and its own coalescing takes over.
// The module's delayed answers are spaced by the rate's interval, one after the other, so that
// a driver writing from many goroutines at once is held to the rate too, not to the rate times
// its writers (8 writers made 1,064 calls a second at 200/s); none waits more than maxPace.
// Each write is first counted against the module's bounds (statusquota.go), with the rate off too;
// a write past them is refused and neither written nor kept. The gate's lock is held across every
// write, the rate on or off, so that the module's writes land in the order they were counted.
func (s *statusGates) set(ctx context.Context, rate float64, moduleID, name string, value []byte,
	write writeFn) (gateResult, *statusRefusal, error) {
	now := time.Now()
	s.mu.Lock()
	closed := s.closed
	g := s.gates[moduleID]
	if g == nil {
		if s.gates == nil {
			s.gates = map[string]*statusGate{}
		}
		g = &statusGate{b: newBucket(rate, now)}
		s.gates[moduleID] = g
	}
	s.mu.Unlock()

	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.tally.take(name, value, now); r != nil {
		return gateResult{}, r, nil
	}
	if rate <= 0 || closed || len(g.pending) == 0 && g.b.Take(now) {
		return gateResult{}, nil, write(ctx, moduleID, name, value)
	}
	if g.pending == nil {
		g.pending = map[string][]byte{}
	}
	_, coalesced := g.pending[name]
	g.pending[name] = value
	wait := g.b.Wait(now)
	if !g.armed {
		g.armed = true
		g.timer = time.AfterFunc(wait, func() { s.flush(moduleID, g, write) })
	}
	// The answer is due one interval after the module's latest delayed answer, or after now.
	pace := min(max(g.answer.Sub(now), 0)+time.Duration(float64(time.Second)/rate), maxPace)
	g.answer = now.Add(pace)
	return gateResult{delayed: true, coalesced: coalesced, pace: max(wait, pace)}, nil, nil
}

// maxPace bounds how long a delayed write's answer is held: past the rate's interval times the
// writers waiting, a driver with very many of them is answered a second after each write.
const maxPace = time.Second

// restart tells the module's gate that the module's status was cleared for a start here: its
// tally starts again from the values still waiting, and the gate is kept (a gate forgotten while
// it drained would be dropped, and with it the new instance's tally).
func (s *statusGates) restart(moduleID string) {
	g := s.gate(moduleID)
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gone = false
	g.tally.restart(g.pending)
}

// flush writes as many waiting values as the bucket allows and schedules the rest.
func (s *statusGates) flush(moduleID string, g *statusGate, write writeFn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	for name, v := range g.pending {
		if !g.b.Take(now) {
			break
		}
		delete(g.pending, name)
		ctx, cancel := context.WithTimeout(context.Background(), statusFlushTimeout)
		_ = write(ctx, moduleID, name, v) // write logs its own failures
		cancel()
	}
	if len(g.pending) > 0 {
		g.timer = time.AfterFunc(max(g.b.Wait(time.Now()), time.Millisecond), func() { s.flush(moduleID, g, write) })
		return
	}
	g.armed, g.pending = false, nil
	if g.gone {
		s.drop(moduleID, g)
	}
}

// close writes every value still waiting, at once (the node is stopping: the last value of
// each status must land, not wait for tokens), stops the scheduled flushes, and lets later
// writes through ungated: a driver stopping after the core still sets its last statuses.
func (s *statusGates) close(write writeFn) {
	s.mu.Lock()
	s.closed = true
	gates := make(map[string]*statusGate, len(s.gates))
	for id, g := range s.gates {
		gates[id] = g
	}
	s.mu.Unlock()
	for id, g := range gates {
		g.mu.Lock()
		if g.timer != nil {
			g.timer.Stop()
		}
		for name, v := range g.pending {
			ctx, cancel := context.WithTimeout(context.Background(), statusFlushTimeout)
			_ = write(ctx, id, name, v)
			cancel()
		}
		g.pending, g.armed = nil, false
		g.mu.Unlock()
	}
}

// forget is called when the module is no longer hosted here: its gate goes once its waiting
// values are written (a stopping driver's last values still land).
func (s *statusGates) forget(moduleID string) {
	g := s.gate(moduleID)
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gone = true
	if !g.armed {
		s.drop(moduleID, g)
	}
}

// gate is moduleID's gate, nil when it has none.
func (s *statusGates) gate(moduleID string) *statusGate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gates[moduleID]
}

// drop removes g if it is still moduleID's gate. g.mu is held.
func (s *statusGates) drop(moduleID string, g *statusGate) {
	s.mu.Lock()
	if s.gates[moduleID] == g {
		delete(s.gates, moduleID)
	}
	s.mu.Unlock()
}

// count is the number of gates (tests check they are forgotten).
func (s *statusGates) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.gates)
}
