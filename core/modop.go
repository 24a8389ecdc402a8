package core

import (
	"context"
	"sync"
	"time"
)

// A start, update or move is a call into the driver's own code (its OnLoad, say), which can hang
// for as long as the supervisor's CallTimeout (60 s). A pass waits for the operations it began
// for at most slowOp and then goes on without those still in flight, so one slow module holds
// neither the other modules' changes nor the operator's: each module has at most one operation in
// flight, which later passes leave alone, and which asks for another pass when it ends after its
// own pass went on (it records its result as any other, and that pass acts on what changed
// meanwhile). A module that should stop (or cannot run any longer) while its operation is in
// flight has the operation canceled — the engine stops waiting for the driver — and the pass
// waits for it to end before it stops the module: the supervisor serialises a module's calls,
// and the stop must come after the start, or the start would leave the module running.
//
// Readiness: a node is ready for a membership epoch once a pass of that epoch has acted on
// every module it owns and waited for what it began: each module runs, or its start failed (it
// is retried on every pass), or its start, update or move is still in flight after the pass's
// whole wait. Such a start reads like a failed one (not connected, not in status/loaded; after
// the wait a runtime error says how long it has not answered: hungstart.go), and like a failed
// one it does not hold readiness: a driver stuck in one module's OnLoad takes neither the node
// out of its load balancer nor the cluster's `ready` away. A start that answers within the wait
// is waited for, so the node is ready with it running.

// slowOp is how long a pass waits for the operations it began; a var for the tests.
var slowOp = 2 * time.Second

// moduleOp is a start, update or move in flight (moduleState.op).
type moduleOp struct {
	cancel context.CancelFunc
	done   chan struct{} // closed once its result is recorded and moduleState.op cleared
	late   bool          // guarded by c.mu: its pass went on without it
}

// beginOp runs fn for module id in a goroutine of its own as the module's operation in flight,
// once sem has room. Only the reconcile loop calls it.
//
// sem bounds the operations that are making progress, not those that hang: an operation gives its
// place back when it ends or after slowOp, whichever comes first. Otherwise a driver stuck in
// OnLoad for as many modules as the bound (say 64 displays whose driver dials a device that is
// off, with no timeout of its own) would hold the rest of the pass, every other driver's modules
// included, until the supervisor's call timeout.
func (c *Core) beginOp(ctx context.Context, id string, sem chan struct{}, fn func(ctx context.Context)) *moduleOp {
	ctx, cancel := context.WithCancel(ctx)
	op := &moduleOp{cancel: cancel, done: make(chan struct{})}
	c.setModule(id, func(st *moduleState) { st.op = op })
	sem <- struct{}{}
	c.ops.Add(1)
	go c.runOp(ctx, id, op, sem, fn)
	return op
}

func (c *Core) runOp(ctx context.Context, id string, op *moduleOp, sem chan struct{}, fn func(ctx context.Context)) {
	defer c.ops.Done()
	var release sync.Once
	free := func() { release.Do(func() { <-sem }) }
	slow := time.AfterFunc(slowOp, free)
	defer func() {
		slow.Stop()
		free()
	}()
	fn(ctx)
	op.cancel()
	c.mu.Lock()
	if st := c.modules[id]; st != nil && st.op == op {
		st.op = nil
	}
	late := op.late
	c.mu.Unlock()
	close(op.done)
	if late {
		c.Kick()
	}
}

// awaitOps waits up to slowOp for ops, the operations this pass began. Every pass's operations
// begin before its wait does, so each one still in flight afterwards has had the whole wait.
func (c *Core) awaitOps(ctx context.Context, ops []*moduleOp) {
	timer := time.NewTimer(slowOp)
	defer timer.Stop()
wait:
	for _, op := range ops {
		select {
		case <-op.done:
		case <-timer.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, op := range ops {
		op.late = true // one that has ended already does not read it again
	}
}

// cancelOps cancels the operations in flight of the modules unwanted says no longer should run,
// and waits for them to end: canceled, they end as soon as their driver call returns, which it
// does at once (the engine stops waiting; the driver may go on in its own process until the
// module's Stop reaches it).
func (c *Core) cancelOps(unwanted func(id string) bool) {
	c.mu.Lock()
	var ops []*moduleOp
	for id, st := range c.modules {
		if st.op != nil && unwanted(id) {
			ops = append(ops, st.op)
		}
	}
	c.mu.Unlock()
	for _, op := range ops {
		op.cancel()
	}
	for _, op := range ops {
		<-op.done
	}
}

// inFlight reports whether module id has an operation in flight.
func (c *Core) inFlight(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.modules[id]
	return st != nil && st.op != nil
}

// starting reports whether module id's start is in flight: it does not run yet.
func (c *Core) starting(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.modules[id]
	return st != nil && st.op != nil && !st.running
}
