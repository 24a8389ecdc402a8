package peer

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// frameWriter writes whole frames to a connection from many goroutines. Writers that find others
// queued behind them leave the flush to the last one, so that under load one write system call
// carries many frames, and an idle connection's single frame goes out at once.
type frameWriter struct {
	conn   net.Conn
	queued atomic.Int32

	mu         sync.Mutex
	bw         *bufio.Writer
	err        error // the first failure; every later write returns it
	deadlineAt time.Time
}

// frameWriteTimeout drops a connection whose peer stopped reading (its window stays shut).
const frameWriteTimeout = 10 * time.Second

func newFrameWriter(conn net.Conn) *frameWriter {
	return &frameWriter{conn: conn, bw: bufio.NewWriterSize(conn, 32<<10)}
}

// write appends one frame (fill writes all of it) and flushes unless another writer is queued.
func (fw *frameWriter) write(fill func(w *bufio.Writer)) error {
	fw.queued.Add(1)
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err != nil {
		fw.queued.Add(-1)
		return fw.err
	}
	fill(fw.bw)
	if fw.queued.Add(-1) > 0 {
		return nil // the writer queued behind this one flushes both
	}
	// The deadline moves at most once a second: setting it costs a timer update per call.
	if now := time.Now(); now.Add(frameWriteTimeout - time.Second).After(fw.deadlineAt) {
		fw.deadlineAt = now.Add(frameWriteTimeout)
		_ = fw.conn.SetWriteDeadline(fw.deadlineAt)
	}
	fw.err = fw.bw.Flush()
	return fw.err
}

// frame writes a frame without payload.
func (fw *frameWriter) frame(typ byte, id uint64) error {
	return fw.write(func(w *bufio.Writer) { _, _ = w.Write(appendHeader(w.AvailableBuffer(), frameFixed, typ, id)) })
}
