package peer

import (
	"net"
	"runtime"
	"sync"
	"time"
)

// frameWriter writes whole frames to a connection from many goroutines. A writer appends its
// frame to the queue; the first writer to find no write under way becomes the flusher and writes
// what is queued, outside the lock, until the queue is empty. Writers that come meanwhile only
// append, so under load one write system call (and, over TLS, one record) carries many frames
// and no writer waits for another's system call, while an idle connection's single frame goes
// out at once. A peer that stops reading leaves the queue holding the frames of the calls in
// flight (bounded as they are, and held by their callers anyway) until the write deadline breaks
// the connection and fails them.
type frameWriter struct {
	conn net.Conn

	mu         sync.Mutex
	queue      []byte // frames appended since the flusher last took them
	spare      []byte // the flusher's last batch, reused for the next queue
	flushing   bool   // a writer is writing the queue out
	err        error  // the first failure; every later write returns it
	deadlineAt time.Time
}

// frameWriteTimeout drops a connection whose peer stopped reading (its window stays shut).
const frameWriteTimeout = 10 * time.Second

// Bounds of the flusher's work.
const (
	// maxFlushRounds is how many batches a flusher writes for the writers that came after it
	// before it hands the rest to a goroutine of its own: its frame left in the first one, and
	// its caller (a forwarded call waiting for its answer, a worker taking the next call) must
	// not be held by a steady flow of others' frames.
	maxFlushRounds = 4
	// keepBatch is the largest buffer kept for reuse; a batch that carried a large call or
	// answer is dropped, so an idle link does not hold megabytes.
	keepBatch = 64 << 10
)

func newFrameWriter(conn net.Conn) *frameWriter {
	return &frameWriter{conn: conn}
}

// write appends one frame (fill appends all of it to the bytes it is given and returns them) and,
// unless a write is under way that will take it along, writes it. With company (other calls are
// in flight on the connection, so their frames are likely to be ready at the same moment) the
// writer first lets the other goroutines ready to run go ahead — calls answered by the same read
// of the driver, requests read by the same poll — so that they append their frames and one write
// carries them all. Without, the frame goes out at once: a lone call does not wait for whatever
// else the process has to run. An error is the connection's failure: this frame, or one queued
// with it, was lost.
func (fw *frameWriter) write(fill func(b []byte) []byte, company bool) error {
	fw.mu.Lock()
	if fw.err != nil {
		err := fw.err
		fw.mu.Unlock()
		return err
	}
	fw.queue = fill(fw.queue)
	if fw.flushing {
		fw.mu.Unlock()
		return nil // the flusher writes it with its next batch
	}
	fw.flushing = true
	fw.mu.Unlock()
	if company {
		runtime.Gosched()
	}
	return fw.flush(maxFlushRounds)
}

// flush writes the queue out, batch by batch, until it is empty or rounds batches are written;
// then it hands the rest to a goroutine. The caller set fw.flushing.
func (fw *frameWriter) flush(rounds int) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	for ; rounds > 0 && len(fw.queue) > 0 && fw.err == nil; rounds-- {
		batch := fw.queue
		fw.queue = fw.spare[:0]
		// The deadline moves at most once a second: setting it costs a timer update per call.
		now := time.Now()
		renew := now.Add(frameWriteTimeout - time.Second).After(fw.deadlineAt)
		if renew {
			fw.deadlineAt = now.Add(frameWriteTimeout)
		}
		deadline := fw.deadlineAt
		fw.mu.Unlock()
		if renew {
			_ = fw.conn.SetWriteDeadline(deadline)
		}
		_, err := fw.conn.Write(batch)
		fw.mu.Lock()
		if err != nil {
			// A frame may have gone out in part: the stream is broken. Closed, so that both
			// readers fail too, and so every call waiting on it, whoever wrote its frame.
			fw.err = err
			_ = fw.conn.Close()
		}
		fw.spare = nil
		if cap(batch) <= keepBatch {
			fw.spare = batch[:0]
		}
	}
	if len(fw.queue) > 0 && fw.err == nil {
		go func() { _ = fw.flush(maxFlushRounds) }() // still flushing: the goroutine goes on
		return nil
	}
	fw.flushing = false
	if fw.err != nil {
		fw.queue = nil
	}
	return fw.err
}

// frame writes a frame without payload.
func (fw *frameWriter) frame(typ byte, id uint64) error {
	return fw.write(func(b []byte) []byte { return appendHeader(b, frameFixed, typ, id) }, false)
}
