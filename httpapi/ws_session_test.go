package httpapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/state"
)

// Goroutines the session tests count (see testutil.Goroutines).
const (
	wsReaderFn = "httpapi.(*wsSession).readLoop"
	consumerFn = "lazyq.(*Queue[...]).consume" // session writers and state listeners
)

// TestWSIdleSessionIsOneGoroutine: once idle, a bound session is its reader alone: its writer and
// the status listener behind its binding end after their linger, and closing the client ends the
// reader too. Not parallel: it counts goroutines.
func TestWSIdleSessionIsOneGoroutine(t *testing.T) {
	env := newWSEnv(t)
	const sessions = 20
	for i := range sessions {
		env.set(t, "mod-1", fmt.Sprintf("s%d", i), "true")
	}
	clients := make([]*wsClient, sessions)
	for i := range clients {
		c := env.dial(t)
		c.send(fmt.Sprintf(`{"id":1,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"s%d"}`, i))
		c.read() // success, written by the reader
		c.read() // the value, queued by the watch: the writer starts
		clients[i] = c
	}
	for i := range clients {
		env.set(t, "mod-1", fmt.Sprintf("s%d", i), "false") // through the listener and the writer
		clients[i].expect(fmt.Sprintf(`{"id":1,"type":"notify","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"s%d"},"value":false}`, i))
	}
	testutil.WaitGoroutines(t, 10*time.Second, consumerFn, 0)
	if n := testutil.Goroutines(wsReaderFn); n != sessions {
		t.Fatalf("%d session readers, want %d", n, sessions)
	}
	// An idle session still delivers: the writer starts again.
	env.set(t, "mod-1", "s0", "1")
	clients[0].expect(`{"id":1,"type":"notify","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"s0"},"value":1}`)
	for _, c := range clients {
		_ = c.conn.Close()
	}
	testutil.WaitGoroutines(t, 10*time.Second, wsReaderFn, 0)
	testutil.WaitGoroutines(t, 10*time.Second, consumerFn, 0)
	testutil.Eventually(t, 10*time.Second, "sessions and watches released", func() bool {
		return env.hs.srv.WSSessions() == 0 && env.subs.Count() == 0
	})
}

// TestWSWriterDeliversInOrder: a burst of changes, queued faster than the client reads, reaches
// it whole and in order, interleaved with answers the reader writes itself; the writer then ends,
// and the server closes a session whose writer lingers without waiting for the linger.
func TestWSWriterDeliversInOrder(t *testing.T) {
	env := newWSEnv(t)
	env.set(t, "mod-1", "power", "0")
	c := env.dial(t)
	c.send(`{"id":1,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`)
	c.expect(`{"id":1,"type":"success","meta":` + meta1 + `}`)
	c.expect(`{"id":1,"type":"notify","meta":` + meta1 + `,"value":0}`)
	const changes = 200
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= changes; i++ {
			if _, err := env.store.SetStatus(t.Context(), "mod-1", "power", fmt.Appendf(nil, "%d", i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	c.send("ping") // its pong comes in among the notifies, never lost
	pongs := 0
	for i := 1; i <= changes; {
		msg := c.read()
		if msg == "pong" {
			pongs++
			continue
		}
		if want := fmt.Sprintf(`{"id":1,"type":"notify","meta":%s,"value":%d}`, meta1, i); msg != want {
			t.Fatalf("got  %s\nwant %s", msg, want)
		}
		i++
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.quiet()
	if pongs != 1 {
		t.Fatalf("%d pongs among the notifies, want 1", pongs)
	}
	testutil.WaitGoroutines(t, 10*time.Second, consumerFn, 0)

	// A writer lingering when the server closes: Close ends it at once, with the close frame.
	env.set(t, "mod-1", "power", "true")
	c.expect(`{"id":1,"type":"notify","meta":` + meta1 + `,"value":true}`)
	began := time.Now()
	if err := env.hs.srv.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d >= wsWriterLinger {
		t.Fatalf("Close took %s: it waited for a lingering writer", d)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.conn.ReadMessage()
	if ce := (*websocket.CloseError)(nil); !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("after Close the client reads %v, want close 1001", err)
	}
}

// TestWSSilentClientDisconnected: every heartbeat pings the client; one that sends nothing back
// before the next heartbeat — a real gorilla client whose ping handler no longer answers, one
// that stopped reading altogether — is disconnected with close 1001 "no pong", while a client
// that answers stays, heartbeat after heartbeat.
func TestWSSilentClientDisconnected(t *testing.T) {
	t.Parallel()
	const interval = 250 * time.Millisecond
	env := newWSEnv(t, func(c *Config) { c.WSPongInterval = interval })

	answering := env.dial(t) // gorilla answers pings while it reads
	mute := env.dial(t)
	mute.conn.SetPingHandler(func(string) error { return nil }) // reads, never answers
	env.dial(t)                                                 // never reads at all
	testutil.Eventually(t, 10*time.Second, "three sessions", func() bool { return env.hs.srv.WSSessions() == 3 })

	muteEnd := make(chan error, 1)
	go func() {
		for {
			_ = mute.conn.SetReadDeadline(time.Now().Add(20 * interval))
			if _, _, err := mute.conn.ReadMessage(); err != nil {
				muteEnd <- err
				return
			}
		}
	}()
	// The answering client reads heartbeat after heartbeat while the silent ones are dropped.
	for range 8 {
		answering.expect("pong")
	}
	select {
	case err := <-muteEnd:
		if ce := (*websocket.CloseError)(nil); !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway || ce.Text != "no pong" {
			t.Fatalf("the mute client's session ended with %v, want close 1001 \"no pong\"", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the mute client was not disconnected")
	}
	testutil.Eventually(t, 10*time.Second, "only the answering session left", func() bool { return env.hs.srv.WSSessions() == 1 })
	answering.quiet()
}

// heads is how many notify heads the server holds, and how many bindings hold each.
func (e *wsEnv) heads() map[string]int {
	s := e.hs.srv
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	out := map[string]int{}
	for k, h := range s.ws.heads {
		out[k] = h.refs
	}
	return out
}

// TestWSNotifySharedByBindings: bindings with the same id and meta share one notify head (the
// change is encoded once for all of them), others have their own, every client reads its own
// notify, a value that is not JSON goes out as null, and the heads go with their bindings.
func TestWSNotifySharedByBindings(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	bind := func(id int) *wsClient {
		c := env.dial(t)
		c.send(fmt.Sprintf(`{"id":%d,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`, id))
		c.expect(fmt.Sprintf(`{"id":%d,"type":"success","meta":%s}`, id, meta1))
		return c
	}
	same := []*wsClient{bind(1), bind(1), bind(1)}
	other := bind(5)
	if got := env.heads(); len(got) != 2 {
		t.Fatalf("heads %v, want 2 (id 1 shared by three bindings, id 5)", got)
	}
	expect := func(value string) {
		t.Helper()
		for _, c := range same {
			c.expect(`{"id":1,"type":"notify","meta":` + meta1 + `,"value":` + value + `}`)
		}
		other.expect(`{"id":5,"type":"notify","meta":` + meta1 + `,"value":` + value + `}`)
	}
	for _, v := range []string{"true", `{"a":"b"}`} {
		env.set(t, "mod-1", "power", v)
		expect(v)
	}
	// Not JSON (published by hand, past SetStatus's check): null, for every binding.
	if err := env.store.Client().Publish(t.Context(), state.StatusChannel("mod-1", "power"), "{broken").Err(); err != nil {
		t.Fatal(err)
	}
	expect("null")

	same[0].send(`{"id":2,"cmd":"unbind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`)
	same[0].expect(`{"id":2,"type":"success"}`)
	testutil.Eventually(t, 10*time.Second, "one binding fewer on the shared head", func() bool {
		for k, refs := range env.heads() {
			if strings.HasPrefix(k, `{"id":1,`) {
				return refs == 2
			}
		}
		return false
	})
	for _, c := range append(same[1:], other) {
		_ = c.conn.Close()
	}
	testutil.Eventually(t, 10*time.Second, "every head released", func() bool { return len(env.heads()) == 0 })
}

// TestWSBusyReaderIsNotSilence: a reader held up by the session itself (an exec waiting for a
// place while another runs past several heartbeats) leaves the client's pongs unread; the client
// is not taken for silent.
func TestWSBusyReaderIsNotSilence(t *testing.T) {
	t.Parallel()
	const interval = 100 * time.Millisecond
	env := newWSEnv(t, func(c *Config) { c.WSPongInterval = interval; c.WSMaxInFlight = 1 })
	release := env.holdExec("slow")
	c := env.dial(t)
	c.send(`{"id":1,"cmd":"exec","sys":"sys-1","mod":"Display","name":"slow","args":[]}`)
	// The second waits for a place; the client answers each ping as it reads, but the session's
	// reader, waiting with it, reads none of the answers.
	c.send(`{"id":2,"cmd":"exec","sys":"sys-1","mod":"Display","name":"fast","args":[]}`)
	for range 6 {
		c.expect("pong")
	}
	release()
	c.expect(`{"id":1,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"slow"},"value":"slow","code":200}`)
	c.expect(`{"id":2,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"fast"},"value":"fast","code":200}`)
	c.quiet()
}
