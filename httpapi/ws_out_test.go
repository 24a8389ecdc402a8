package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/metrics"
)

// echoExecs makes every exec answer its arguments (the red team's "echo" of a large frame).
func echoExecs(env *wsEnv) {
	env.hs.eng.execFn = func(_ context.Context, req call.Request) (call.Result, error) {
		return call.Result{Value: req.Args, Code: 200}, nil
	}
}

// TestWSQueueBoundedInBytes: a client that sends large executes and never reads their answers
// is disconnected as a slow client once its queued answers reach the byte bound, long before the
// message count bound (256) and the write timeout: the queue never held more than the bound,
// the client gets the slow client close, and the session's goroutines end. Before the byte
// bound, all 20 answers of 60 KB waited in the queue, and the session lived until the write
// timeout cut it. Not parallel: it counts goroutines.
func TestWSQueueBoundedInBytes(t *testing.T) {
	m := metrics.New()
	const bound = 256 << 10
	env := newWSEnv(t, func(c *Config) { c.WSQueueBytes, c.Metrics = bound, m })
	echoExecs(env)

	// The client reads nothing until it is disconnected: the kernel's buffers take a few
	// answers, the queue the rest.
	slow, _, err := websocket.DefaultDialer.Dial(env.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	var ss *wsSession
	testutil.Eventually(t, 10*time.Second, "the session registered", func() bool {
		env.hs.srv.ws.mu.Lock()
		defer env.hs.srv.ws.mu.Unlock()
		for s := range env.hs.srv.ws.sessions {
			ss = s
		}
		return ss != nil
	})

	arg := strings.Repeat("x", 60_000)
	sent := 0
	for i := range 20 { // 1.2 MB of answers: the bound is 256 KiB
		frame := fmt.Sprintf(`{"id":%d,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":"echo","args":[%q]}`, i, arg)
		_ = slow.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := slow.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			break // the server closed the session under us
		}
		sent++
	}
	testutil.Eventually(t, 5*time.Second, "the slow client disconnected", func() bool {
		return metricValue(t, m, "engine_websocket_slow_disconnects_total") == 1
	})
	if peak := ss.out.PeakSize(); peak > bound || peak < bound-64_000 {
		t.Fatalf("the queue held at most %d bytes, want the bound %d reached and kept", peak, bound)
	}
	<-ss.dead
	if ss.code != websocket.CloseGoingAway || ss.why != "slow client" {
		t.Fatalf("the session ended with %d %q, want the slow client's 1001", ss.code, ss.why)
	}
	// What the kernel buffered, then the end: the close frame, unless the client was so far
	// behind that the server gave up writing it (1 s) and just closed — a reset when the server
	// closed with frames of the client's still unread.
	for got := 0; ; got++ {
		_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := slow.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			closed := errors.As(err, &ce) && (ce.Code == websocket.CloseGoingAway || ce.Code == websocket.CloseAbnormalClosure)
			if !closed && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("after %d answers the session ended with %v, want a close", got, err)
			}
			break
		}
	}
	testutil.Eventually(t, 10*time.Second, "the session released", func() bool { return env.hs.srv.WSSessions() == 0 })
	testutil.WaitGoroutines(t, 10*time.Second, wsReaderFn, 0)
	testutil.WaitGoroutines(t, 10*time.Second, consumerFn, 0)
	t.Logf("%d executes sent, queue peak %d bytes", sent, ss.out.PeakSize())
}

// An answer larger than the whole byte bound still reaches a client that reads, and so does a
// second one sent while the first is being written: it waits as the queue's one heavy item.
// Rounds of two, not three at once: with two answers already out (one being written, one heavy
// waiting) a third is refused until the writer has taken the waiting one, and whether it has
// depends on when the writer goroutine runs (under load, a slow client close).
func TestWSLargeAnswerDelivered(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t, func(c *Config) { c.WSQueueBytes = 16 << 10 })
	echoExecs(env)
	c := env.dial(t)
	arg := strings.Repeat("y", 200_000)
	seen := map[int]bool{}
	for round := range 3 {
		for i := 2 * round; i < 2*round+2; i++ {
			c.send(fmt.Sprintf(`{"id":%d,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":"echo","args":[%q]}`, i, arg))
		}
		for range 2 {
			b := c.read()
			var id int
			if _, err := fmt.Sscanf(b, `{"id":%d,"type":"success"`, &id); err != nil || !strings.Contains(b, arg) {
				t.Fatalf("answer: %.80s… (%d bytes)", b, len(b))
			}
			seen[id] = true
		}
	}
	if len(seen) != 6 {
		t.Fatalf("answers %v", seen)
	}
}
