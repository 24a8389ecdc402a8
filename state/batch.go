package state

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The node's module writes — status sets and clears, metadata — are Lua scripts, each one atomic
// step (compare, write, publish). When many are due at once (a node starting 10,000 modules clears
// each one's status and writes its metadata; their drivers then set statuses), a round trip per
// write has the engine and Redis spend their time on syscalls and wake-ups. So the writes go
// through a batcher: a write that finds fewer than maxInFlight pipelines out is sent at once
// (no waiting when the node is quiet); writes that arrive while maxInFlight pipelines are out
// queue, and go together in the next pipeline in the order they arrived. Each write still runs
// as its own script, with its own answer, and a write made after another one returned is sent
// after it.

// maxInFlight is how many write pipelines may be out at once; later writes queue and coalesce.
const maxInFlight = 4

// maxBatch bounds one pipeline; a longer queue is sent in several.
const maxBatch = 512

// batchTimeout bounds a pipeline's round trip when none of its writes carries a deadline.
const batchTimeout = 30 * time.Second

// write is one script run waiting for its turn.
type write struct {
	ctx    context.Context
	script *redis.Script
	keys   []string
	args   []any

	cmd  *redis.Cmd
	err  error
	done chan struct{}
}

// batcher coalesces script runs into pipelines.
type batcher struct {
	client   *redis.Client
	wg       sync.WaitGroup // the goroutines sending pipelines
	mu       sync.Mutex
	queue    []*write
	inFlight int
	closed   bool
}

// run sends one script run (possibly with others) and returns its answer. The caller's context
// bounds its wait; a write whose context ended before it was sent is not sent.
func (b *batcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	w := &write{ctx: ctx, script: script, keys: keys, args: args, done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(redis.ErrClosed)
		return cmd
	}
	b.queue = append(b.queue, w)
	if b.inFlight < maxInFlight {
		b.inFlight++
		b.sendLocked()
	}
	b.mu.Unlock()
	select {
	case <-w.done:
		return w.result()
	case <-ctx.Done():
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(ctx.Err())
		return cmd
	}
}

// close refuses later writes and waits for the pipelines under way (Store.Close, once the client
// is closed: they end at once).
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
}

func (w *write) result() *redis.Cmd {
	if w.err != nil && w.cmd == nil {
		cmd := redis.NewCmd(w.ctx)
		cmd.SetErr(w.err)
		return cmd
	}
	return w.cmd
}

// takeLocked takes the next batch off the queue. Caller holds b.mu.
func (b *batcher) takeLocked() []*write {
	n := min(len(b.queue), maxBatch)
	batch := b.queue[:n:n]
	if n == len(b.queue) {
		b.queue = nil
	} else {
		b.queue = b.queue[n:]
	}
	return batch
}

// sendLocked sends the next batch off the queue in a goroutine that, once it has its answers,
// sends what queued meanwhile, until the queue is empty. Caller holds b.mu and has counted the
// pipeline in inFlight.
func (b *batcher) sendLocked() {
	batch := b.takeLocked()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			b.send(batch)
			b.mu.Lock()
			if len(b.queue) == 0 {
				b.inFlight--
				b.mu.Unlock()
				return
			}
			batch = b.takeLocked()
			b.mu.Unlock()
		}
	}()
}

// send runs batch in one pipeline of EVALSHAs; writes that find their script missing (a Redis
// that restarted) are sent again as EVAL in a second. Each write is done when it returns.
func (b *batcher) send(batch []*write) {
	live := batch[:0:0]
	for _, w := range batch {
		if err := w.ctx.Err(); err != nil {
			w.err = err
			close(w.done)
			continue
		}
		live = append(live, w)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := batchContext(live)
	defer cancel()
	b.exec(ctx, live, false)
	var retry []*write
	for _, w := range live {
		if err := w.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			retry = append(retry, w)
			continue
		}
		close(w.done)
	}
	if len(retry) > 0 {
		b.exec(ctx, retry, true)
		for _, w := range retry {
			close(w.done)
		}
	}
}

func (b *batcher) exec(ctx context.Context, ws []*write, full bool) {
	pipe := b.client.Pipeline()
	for _, w := range ws {
		if full {
			w.cmd = w.script.Eval(ctx, pipe, w.keys, w.args...)
		} else {
			w.cmd = w.script.EvalSha(ctx, pipe, w.keys, w.args...)
		}
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
}

// batchContext bounds a pipeline by the latest deadline among its writes (none: batchTimeout).
// It is not cancelled with any one caller: the others still want their writes.
func batchContext(ws []*write) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, w := range ws {
		dl, ok := w.ctx.Deadline()
		if !ok {
			return context.WithTimeout(context.Background(), batchTimeout)
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	return context.WithDeadline(context.Background(), latest)
}
