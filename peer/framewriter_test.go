package peer

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// gatedConn is a connection whose writes each wait for a release, and which records them: a
// write system call held for as long as a test needs.
type gatedConn struct {
	net.Conn               // nil: only the methods below are called
	entered  chan []byte   // a write began, with its bytes
	release  chan error    // what the write returns
	closed   chan struct{} // closed by Close
	once     sync.Once
	mu       sync.Mutex
	writes   [][]byte
}

func newGatedConn() *gatedConn {
	return &gatedConn{entered: make(chan []byte, 100), release: make(chan error), closed: make(chan struct{})}
}

func (c *gatedConn) Write(b []byte) (int, error) {
	b = bytes.Clone(b)
	c.entered <- b
	err := <-c.release
	c.mu.Lock()
	c.writes = append(c.writes, b)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *gatedConn) SetWriteDeadline(time.Time) error { return nil }

func (c *gatedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// frameOf is the bytes of a frame without payload.
func frameOf(typ byte, id uint64) []byte { return appendHeader(nil, frameFixed, typ, id) }

// Writers that come while a write is under way do not wait for it: their frames go out together
// in the next write.
func TestFrameWriterCoalesces(t *testing.T) {
	c := newGatedConn()
	fw := newFrameWriter(c)
	first := make(chan error, 1)
	go func() { first <- fw.frame(framePing, 1) }()
	if got := <-c.entered; !bytes.Equal(got, frameOf(framePing, 1)) {
		t.Fatalf("first write %x", got)
	}
	var want []byte
	for id := uint64(2); id <= 10; id++ {
		// Returns while the first write is held: the flusher takes the frame along.
		if err := fw.frame(framePing, id); err != nil {
			t.Fatal(err)
		}
		want = append(want, frameOf(framePing, id)...)
	}
	c.release <- nil
	if got := <-c.entered; !bytes.Equal(got, want) {
		t.Fatalf("second write %x, want the 9 queued frames %x", got, want)
	}
	c.release <- nil
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.writes) != 2 {
		t.Fatalf("%d writes for 10 frames, want 2", len(c.writes))
	}
}

// A flusher writes a bounded number of batches for others, then hands the rest to a goroutine: a
// steady flow of frames does not hold its caller.
func TestFrameWriterFlusherHandsOff(t *testing.T) {
	c := newGatedConn()
	fw := newFrameWriter(c)
	first := make(chan error, 1)
	go func() { first <- fw.frame(framePing, 1) }()
	<-c.entered
	id := uint64(1)
	for range maxFlushRounds - 1 { // the first writer's rounds 2 to maxFlushRounds
		id++
		if err := fw.frame(framePing, id); err != nil {
			t.Fatal(err)
		}
		c.release <- nil
		if got := <-c.entered; !bytes.Equal(got, frameOf(framePing, id)) {
			t.Fatalf("write %x, want frame %d", got, id)
		}
	}
	// Its last round is held; a frame queued now is left for the goroutine that takes over.
	id++
	if err := fw.frame(framePing, id); err != nil {
		t.Fatal(err)
	}
	c.release <- nil
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := <-c.entered; !bytes.Equal(got, frameOf(framePing, id)) {
		t.Fatalf("write %x, want frame %d from the goroutine that took over", got, id)
	}
	c.release <- nil
	testutil.Eventually(t, 10*time.Second, "the writer idle again", func() bool {
		fw.mu.Lock()
		defer fw.mu.Unlock()
		return !fw.flushing
	})
}

// A failed write breaks the stream: the connection is closed (so both readers, and every call
// waiting, fail), and every later frame fails at once.
func TestFrameWriterFailureCloses(t *testing.T) {
	c := newGatedConn()
	fw := newFrameWriter(c)
	first := make(chan error, 1)
	go func() { first <- fw.frame(framePing, 1) }()
	<-c.entered
	if err := fw.frame(framePing, 2); err != nil { // queued behind the write that fails
		t.Fatal(err)
	}
	broken := errors.New("broken pipe")
	c.release <- broken
	if err := <-first; !errors.Is(err, broken) {
		t.Fatalf("got %v, want the write's failure", err)
	}
	select {
	case <-c.closed:
	default:
		t.Fatal("connection not closed after a failed write")
	}
	if err := fw.frame(framePing, 3); !errors.Is(err, broken) {
		t.Fatalf("a later frame: %v, want the first failure", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.writes) != 1 {
		t.Fatalf("%d writes, want none after the failure", len(c.writes))
	}
}
