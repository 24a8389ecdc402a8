package core

import (
	"context"
	"fmt"
	"time"

	"github.com/placeos-go/engine/state"
)

// awaitStart starts module w in its driver's process and waits for the answer. A start that has
// not answered after slowOp (as long as a pass waits for it) reads like a start that failed:
// not connected, its runtime error saying how long it has not answered (recorded in Redis, so
// every node reads the same), while this goroutine goes on waiting for it; hung reports that it
// did, so that its success clears the record.
func (c *Core) awaitStart(ctx context.Context, w desired) (hung bool, err error) {
	began := time.Now()
	done := make(chan error, 1)
	go func() { done <- c.sup.Start(ctx, w.binary, w.config) }()
	timer := time.NewTimer(slowOp)
	defer timer.Stop()
	select {
	case err := <-done:
		return false, err
	case <-timer.C:
	}
	c.startHangs(ctx, w, began)
	return true, <-done
}

// startHangs records that module w's start, begun at began, has not answered yet. Here and not
// in the pass that began it, so that the record always comes before the start's own result.
func (c *Core) startHangs(ctx context.Context, w desired, began time.Time) {
	id := w.config.Id
	hung := startHung{began: began}
	var since time.Time
	retry := false
	c.setModule(id, func(st *moduleState) {
		retry = st.startFailed // its earlier attempt failed or hung too: the episode goes on
		if !retry {
			st.failedAt = began
		}
		since, st.err = st.failedAt, hung
	})
	log := c.log.With("module", id, "driver", w.binary)
	if retry {
		log.Debug("module start has not answered again; waiting for it", "after", slowOp)
	} else {
		log.Warn("module start has not answered; waiting for it while the node goes on", "after", slowOp)
	}
	c.recordModuleError(ctx, id, state.ModuleError{At: since, Error: c.scrubAny(hung, w.secrets).Error(), Hung: began})
}

// startHung is the runtime error of a module whose start has not answered since began. It is
// the engine's own words and a count, nothing the driver said or a setting holds; the count is
// made when it is read, so a read a minute later says a minute.
type startHung struct{ began time.Time }

func (e startHung) Error() string { return hungText(time.Since(e.began)) }

func hungText(d time.Duration) string {
	return fmt.Sprintf("start has not answered for %d s; the engine goes on waiting for it", int(max(d, 0)/time.Second))
}
