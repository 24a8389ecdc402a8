package peer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/peer"
)

// rawExec opens an exec connection to n as a node does (the cluster greeting, the protocol's
// greeting and its echo) and returns it with a reader of its frames.
func rawExec(t *testing.T, n *testNode) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := proved.Dial(t.Context(), n.addr, within)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(within))
	if _, err := conn.Write([]byte(peer.ExecMagic)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	echo := make([]byte, len(peer.ExecMagic))
	if _, err := io.ReadFull(br, echo); err != nil || string(echo) != peer.ExecMagic {
		t.Fatalf("the exec greeting was answered %q, %v", echo, err)
	}
	return conn, br
}

// wantAnswer reads the next frame and checks that it answers call id with status and body.
func wantAnswer(t *testing.T, br *bufio.Reader, id uint64, status int, body string) {
	t.Helper()
	typ, gotID, p, err := peer.ReadFrame(br)
	if err != nil {
		t.Fatal(err)
	}
	gotStatus, gotBody, err := peer.Answer(p)
	if typ != peer.FrameAnswer || gotID != id || err != nil || gotStatus != status || gotBody != body {
		t.Fatalf("frame %d id %d: %d %s (%v), want an answer to %d: %d %s", typ, gotID, gotStatus, gotBody, err, id, status, body)
	}
}

// wantClosed checks that the other side closed conn without another frame.
func wantClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	if typ, id, p, err := peer.ReadFrame(br); err == nil {
		t.Fatalf("got frame %d id %d %q, want the connection closed", typ, id, p)
	}
}

// TestExecMultiplexed: concurrent calls share one connection, and each gets its own answer
// whatever order the owner answers them in.
func TestExecMultiplexed(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	const calls = 32
	var mu sync.Mutex
	release := map[string]chan struct{}{}
	arrived := make(chan string, calls)
	n.local.onExec(func(ctx context.Context, req call.Request) (call.Result, error) {
		ch := make(chan struct{})
		mu.Lock()
		release[string(req.Args)] = ch
		mu.Unlock()
		arrived <- string(req.Args)
		select {
		case <-ch:
		case <-ctx.Done():
			return call.Result{}, ctx.Err()
		}
		return call.Result{ModuleID: req.Target.ModuleID, Value: req.Args, Code: http.StatusOK}, nil
	})
	c := newClient(t, proved)
	errs := make(chan error, calls)
	for i := range calls {
		go func() {
			args := fmt.Sprintf("[%d]", i)
			res, err := c.Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "f", Args: json.RawMessage(args)})
			if err == nil && string(res.Value) != args {
				err = fmt.Errorf("call %s got the answer %s", args, res.Value)
			}
			errs <- err
		}()
	}
	// Every call reaches the owner before any is answered, then they are answered last first.
	order := make([]string, 0, calls)
	for range calls {
		order = append(order, <-arrived)
	}
	if got := peer.Links(c); got != 1 {
		t.Fatalf("%d links for one node", got)
	}
	for i := len(order) - 1; i >= 0; i-- {
		mu.Lock()
		close(release[order[i]])
		mu.Unlock()
	}
	for range calls {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if peer.CallsOverHTTP(c, n.addr) {
		t.Fatal("the client fell back to HTTP")
	}
}

// TestExecPeerRestart: a call in flight when its owner goes away fails at once as unavailable
// (not at its deadline), and the next call reaches the node, restarted at the same address, over
// a new connection.
func TestExecPeerRestart(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	started := make(chan struct{}, 1)
	n.local.onExec(func(ctx context.Context, _ call.Request) (call.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		return call.Result{}, ctx.Err()
	})
	c := newClient(t, proved)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, n.addr, modCall("power"))
		errc <- err
	}()
	<-started
	gone, cancelGone := context.WithCancel(t.Context())
	cancelGone() // no grace: the calls running are cancelled, as when the process dies
	began := time.Now()
	n.stop(gone, t)
	select {
	case err := <-errc:
		wantKind(t, err, errkind.Unavailable, http.StatusServiceUnavailable)
		if took := time.Since(began); took > within {
			t.Fatalf("the call failed after %s", took)
		}
	case <-time.After(within):
		t.Fatal("the call in flight did not fail when its owner went away")
	}

	again := newNode(t, func(s *setup) { s.addr = n.addr })
	res, err := c.Exec(t.Context(), n.addr, modCall("power"))
	if err != nil || string(res.Value) != `{"ok":true}` {
		t.Fatalf("after the restart: %s %v", res.Value, err)
	}
	if len(again.local.execCalls()) != 1 || peer.Links(c) != 1 {
		t.Fatalf("%d calls reached the restarted node, %d links", len(again.local.execCalls()), peer.Links(c))
	}
}

// TestExecIdleLinkClosed: a link without calls is closed after a while, and the next call opens
// a new one.
func TestExecIdleLinkClosed(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c := newClient(t, proved)
	peer.SetLinkTimings(c, 10*time.Millisecond, 50*time.Millisecond)
	req := modCall("power")
	if _, err := c.Exec(t.Context(), n.addr, req); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, within, "the idle link closed", func() bool { return peer.Links(c) == 0 })
	if _, err := c.Exec(t.Context(), n.addr, req); err != nil {
		t.Fatalf("after the idle link closed: %v", err)
	}
	if got := len(n.local.execCalls()); got != 2 {
		t.Fatalf("%d calls reached the owner", got)
	}
}

// TestExecSlowOwnerKeptAlive: a node that answers the watchdog's pings keeps its link through a
// call much longer than the watchdog's period.
func TestExecSlowOwnerKeptAlive(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	// Each ping has linkPingPeriods periods (300 ms) for its answer: a loaded machine stalled
	// the node past 30 ms with a 10 ms period.
	const check = 100 * time.Millisecond
	n.local.onExec(func(ctx context.Context, req call.Request) (call.Result, error) {
		select {
		case <-time.After(12 * check): // the driver's work: several pings long
		case <-ctx.Done():
			return call.Result{}, ctx.Err()
		}
		return call.Result{ModuleID: req.Target.ModuleID, Value: json.RawMessage(`"done"`), Code: http.StatusOK}, nil
	})
	c := newClient(t, proved)
	peer.SetLinkTimings(c, check, time.Minute)
	res, err := c.Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "slow"})
	if err != nil || string(res.Value) != `"done"` {
		t.Fatalf("%s %v", res.Value, err)
	}
}

// fakeExecPeer is a listener that greets exec connections as a node would and then does what
// serve says with each: the other side of a node that froze or broke the protocol.
func fakeExecPeer(t *testing.T, serve func(conn net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				magic := make([]byte, len(peer.ExecMagic))
				if _, err := io.ReadFull(br, magic); err != nil {
					return
				}
				if _, err := conn.Write(magic); err != nil {
					return
				}
				serve(conn, br)
			})
		}
	})
	return ln.Addr().String()
}

// TestExecBrokenPeer: what a client does with a node that breaks the protocol or stops talking.
// Each call fails as unavailable, at once or within a few watchdog periods, never at its own
// (distant) deadline.
func TestExecBrokenPeer(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		serve func(conn net.Conn, br *bufio.Reader)
		want  string
	}{
		{"half an answer", func(conn net.Conn, br *bufio.Reader) {
			_, id, _, err := peer.ReadFrame(br)
			if err == nil {
				answer := peer.Frame(peer.FrameAnswer, id, []byte("\x00\xc8[1, 2, 3]"))
				_, _ = conn.Write(answer[:len(answer)-4])
			}
		}, "unexpected EOF"},
		{"half a header", func(conn net.Conn, br *bufio.Reader) {
			if _, _, _, err := peer.ReadFrame(br); err == nil {
				_, _ = conn.Write([]byte{0, 0, 0, 20, 3})
			}
		}, "unexpected EOF"},
		{"an unknown frame", func(conn net.Conn, br *bufio.Reader) {
			if _, id, _, err := peer.ReadFrame(br); err == nil {
				_, _ = conn.Write(peer.Frame(99, id, nil))
				_, _ = br.ReadByte() // until the client hangs up
			}
		}, "malformed exec frame"},
		{"an answer without a status", func(conn net.Conn, br *bufio.Reader) {
			if _, id, _, err := peer.ReadFrame(br); err == nil {
				_, _ = conn.Write(peer.Frame(peer.FrameAnswer, id, []byte{1}))
				_, _ = br.ReadByte()
			}
		}, "answer without a status"},
		{"silence", func(_ net.Conn, br *bufio.Reader) {
			for { // reads the call and the pings, answers nothing
				if _, _, _, err := peer.ReadFrame(br); err != nil {
					return
				}
			}
		}, "no answer to a ping"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := fakeExecPeer(t, tt.serve)
			c := newClient(t, peer.Proof{Open: true})
			peer.SetLinkTimings(c, 10*time.Millisecond, time.Minute)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			began := time.Now()
			_, err := c.Exec(ctx, addr, modCall("power"))
			wantKind(t, err, errkind.Unavailable, http.StatusServiceUnavailable)
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), addr) {
				t.Errorf("%v does not say %q of %s", err, tt.want, addr)
			}
			if took := time.Since(began); took > within {
				t.Errorf("the call failed after %s", took)
			}
			testutil.Eventually(t, within, "the broken link dropped", func() bool { return peer.Links(c) == 0 })
		})
	}
}

// TestExecFrameServerRobustness: what a node does with a peer that breaks the protocol. Nothing
// half-written or malformed runs; a call it cannot read is answered as a bad request on a
// connection that stays usable; a stream it cannot follow is closed.
func TestExecFrameServerRobustness(t *testing.T) {
	t.Parallel()
	call1 := peer.CallFrame(1, "mod-1", "power", []byte(`[true]`))
	for _, tt := range []struct {
		name   string
		send   []byte
		closed bool // the node closes the connection
	}{
		{"half a header", call1[:7], true},
		{"half a call", call1[:len(call1)-3], true},
		{"a length shorter than a header", append([]byte{0, 0, 0, 2, 1}, make([]byte, 8)...), true},
		{"an unknown frame", peer.Frame(42, 1, nil), true},
		{"an answer sent to the node", peer.Frame(peer.FrameAnswer, 1, []byte{0, 200}), true},
		{"a cancel with a payload", peer.Frame(peer.FrameCancel, 1, []byte("x")), true},
		{"a call that does not parse", peer.Frame(peer.FrameCall, 7, []byte{0x80}), false},
		{"a call without a function", peer.CallFrame(7, "mod-1", "", []byte(`[]`)), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			conn, br := rawExec(t, n)
			if _, err := conn.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			if tt.closed {
				if strings.HasPrefix(tt.name, "half") {
					_ = conn.(interface{ CloseWrite() error }).CloseWrite() // the peer's process ends mid-frame
				}
				wantClosed(t, br)
			} else {
				typ, id, p, err := peer.ReadFrame(br)
				status, body, perr := peer.Answer(p)
				if err != nil || perr != nil || typ != peer.FrameAnswer || id != 7 || status != http.StatusBadRequest ||
					!strings.Contains(body, `"error":"bad_request"`) {
					t.Fatalf("frame %d id %d: %d %s (%v %v), want a 400 answer to 7", typ, id, status, body, err, perr)
				}
				// The connection goes on.
				if _, err := conn.Write(call1); err != nil {
					t.Fatal(err)
				}
				wantAnswer(t, br, 1, http.StatusOK, `{"ok":true}`)
			}
			if got := n.local.execCalls(); len(got) != map[bool]int{true: 0, false: 1}[tt.closed] {
				t.Fatalf("%d calls reached the owner", len(got))
			}
		})
	}
}

// TestExecPing: a node answers a ping at once, even while calls run.
func TestExecPing(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	held := make(chan struct{})
	n.local.onExec(func(ctx context.Context, req call.Request) (call.Result, error) {
		<-held
		return call.Result{ModuleID: req.Target.ModuleID, Value: json.RawMessage(`1`), Code: http.StatusOK}, nil
	})
	conn, br := rawExec(t, n)
	if _, err := conn.Write(append(peer.CallFrame(1, "mod-1", "f", nil), peer.Frame(peer.FramePing, 9, nil)...)); err != nil {
		t.Fatal(err)
	}
	typ, id, p, err := peer.ReadFrame(br)
	if err != nil || typ != peer.FramePong || id != 9 || len(p) != 0 {
		t.Fatalf("frame %d id %d %q (%v), want the pong to 9", typ, id, p, err)
	}
	close(held)
	wantAnswer(t, br, 1, http.StatusOK, `1`)
}

// TestExecFallbackToHTTP: a node of an older version closes an exec connection at once (its port
// knows no such first byte); the call goes over HTTP instead, and so do the next ones for a
// while, without another attempt.
func TestExecFallbackToHTTP(t *testing.T) {
	t.Parallel()
	local := &fakeLocal{}
	srv := peer.NewServer(peer.ServerConfig{Local: local, Members: &fakeMembers{}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	old := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: within}
	go func() { _ = old.Serve(firstByteFilter{ln, &attempts}) }()
	t.Cleanup(func() { _ = old.Close() })

	c := newClient(t, peer.Proof{Open: true})
	addr := ln.Addr().String()
	for i := range 3 {
		res, err := c.Exec(t.Context(), addr, modCall("power"))
		if err != nil || string(res.Value) != `{"ok":true}` {
			t.Fatalf("call %d: %s %v", i, res.Value, err)
		}
	}
	if got := attempts.Load(); got != 1 {
		t.Fatalf("%d exec connections tried, want 1", got)
	}
	if !peer.CallsOverHTTP(c, addr) || len(local.execCalls()) != 3 {
		t.Fatalf("over HTTP: %v, %d calls", peer.CallsOverHTTP(c, addr), len(local.execCalls()))
	}
}

// firstByteFilter is the cluster port of an older node: it closes a connection whose first byte
// is not an HTTP method, as that port did whatever was not Raft or HTTP.
type firstByteFilter struct {
	net.Listener
	refused *atomic.Int32
}

func (f firstByteFilter) Accept() (net.Conn, error) {
	for {
		conn, err := f.Listener.Accept()
		if err != nil {
			return nil, err
		}
		br := bufio.NewReader(conn)
		_ = conn.SetReadDeadline(time.Now().Add(within))
		b, err := br.Peek(1)
		_ = conn.SetReadDeadline(time.Time{})
		if err == nil && b[0] >= 'A' && b[0] <= 'Z' {
			return bufferedConn{conn, br}, nil
		}
		f.refused.Add(1)
		_ = conn.Close()
	}
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// TestExecServerCloseFinishesCalls: a node that stops lets the calls it runs answer before its
// server is closed; a call after that fails as unavailable.
func TestExecServerCloseFinishesCalls(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	started, release := make(chan struct{}), make(chan struct{})
	n.local.onExec(func(ctx context.Context, req call.Request) (call.Result, error) {
		close(started)
		<-release
		return call.Result{ModuleID: req.Target.ModuleID, Value: json.RawMessage(`"finished"`), Code: http.StatusOK}, nil
	})
	c := newClient(t, proved)
	type outcome struct {
		res call.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := c.Exec(t.Context(), n.addr, modCall("f"))
		done <- outcome{res, err}
	}()
	<-started
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		n.stop(t.Context(), t)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a call ran")
	case <-time.After(50 * time.Millisecond): // Close waits; this only gives it the chance not to
	}
	close(release)
	o := <-done
	if o.err != nil || string(o.res.Value) != `"finished"` {
		t.Fatalf("the call in flight: %s %v", o.res.Value, o.err)
	}
	<-closed
	_, err := c.Exec(t.Context(), n.addr, modCall("f"))
	wantKind(t, err, errkind.Unavailable, http.StatusServiceUnavailable)
}

// TestExecTooLargeKeepsLink: a call over the owner's body limit is refused, its bytes skipped,
// and the connection carries the next call.
func TestExecTooLargeKeepsLink(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(s *setup) { s.peer.MaxBodyBytes = 1024 })
	c := newClient(t, proved)
	big := json.RawMessage(`["` + strings.Repeat("x", 4096) + `"]`)
	_, err := c.Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "f", Args: big})
	wantKind(t, err, errkind.TooLarge, http.StatusRequestEntityTooLarge)
	if _, err := c.Exec(t.Context(), n.addr, modCall("f")); err != nil {
		t.Fatal(err)
	}
	if len(n.local.execCalls()) != 1 || peer.Links(c) != 1 {
		t.Fatalf("%d calls reached the owner over %d links", len(n.local.execCalls()), peer.Links(c))
	}
}

// TestExecClientClosed: a closed client ends its links and makes no more calls.
func TestExecClientClosed(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c := peer.NewClient(proved)
	if _, err := c.Exec(t.Context(), n.addr, modCall("f")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if peer.Links(c) != 0 {
		t.Fatal("a link survived Close")
	}
	_, err := c.Exec(t.Context(), n.addr, modCall("f"))
	wantKind(t, err, errkind.Unavailable, http.StatusServiceUnavailable)
	if !errors.Is(err, errkind.Unavailable) || len(n.local.execCalls()) != 1 {
		t.Fatalf("after Close: %v, %d calls", err, len(n.local.execCalls()))
	}
}

// TestExecProtocolNeedsProof: the exec protocol is behind the same proof as Raft and HTTP. A
// connection without the cluster greeting, or with another secret's, is closed before its exec
// greeting or calls are read: nothing is echoed, nothing runs, whatever caller it claims.
func TestExecProtocolNeedsProof(t *testing.T) {
	t.Parallel()
	for _, dial := range []peer.Proof{{Open: true}, {Secret: secret + "x"}} {
		t.Run(fmt.Sprintf("greeting of %q", dial.Secret), func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			refused := n.port.Refused()
			conn, err := dial.Dial(t.Context(), n.addr, within)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(within))
			_, _ = conn.Write(append([]byte(peer.ExecMagic), peer.CallFrame(1, "mod-1", "power", []byte(`[]`))...))
			if b, err := io.ReadAll(conn); len(b) != 0 {
				t.Fatalf("an unproven connection was answered %q (%v)", b, err)
			}
			testutil.Eventually(t, within, "the connection refused", func() bool { return n.port.Refused() > refused })
			if len(n.local.execCalls()) != 0 {
				t.Fatal("an unproven call ran")
			}
		})
	}
}

// modCall is a call of fn on mod-1 without arguments.
func modCall(fn string) call.Request {
	return call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: fn}
}
