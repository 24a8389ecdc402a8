package peer

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/calltab"
)

// execLink is this node's exec connection to another node: callers write their calls as frames
// from their own goroutines, and one reader hands each answer to the call waiting for it.
type execLink struct {
	p    *Client
	addr string

	ready chan struct{} // closed once the link is up, or failed to come up (err)
	err   error
	done  chan struct{} // closed when the link ends

	conn   net.Conn
	r      *bufio.Reader
	w      *frameWriter
	frames atomic.Uint64 // frames read, for the watchdog
	active atomic.Int32  // calls in exec, read without the table's lock when writing a frame

	calls calltab.Table[linkAnswer] // the calls waiting for their answers
}

type linkAnswer struct {
	status int
	body   []byte
	err    error
}

// Timings of a link.
const (
	linkDialTimeout = 10 * time.Second // connecting, proving this node and the protocol greeting
	// A link with calls waiting and nothing read for a watchdog period is pinged; after
	// linkPingPeriods more without a frame it is dropped and its calls fail, rather than each
	// waiting out its deadline on a node that froze or vanished.
	linkPingPeriods = 3
	// httpOnlyFor is how long a node that refused the exec protocol (a node of an older version)
	// is called over HTTP before the protocol is tried again.
	httpOnlyFor = 30 * time.Second
)

// linkTimings are the watchdog's period and how long a link without calls stays open. A
// Client's are defaultLinkTimings; tests shorten them.
type linkTimings struct {
	check, idle time.Duration
}

var defaultLinkTimings = linkTimings{check: 2 * time.Second, idle: 90 * time.Second}

var (
	// errNoExecProtocol: the node refused the exec protocol before any call was sent; the call
	// goes over HTTP.
	errNoExecProtocol = errors.New("the node does not speak the exec protocol")
	// errLinkDown: the link ended before the call was written; another link may carry it.
	errLinkDown = errors.New("exec link closed")
)

// execFrames runs a call over the exec protocol. A link that ended before the call was written
// is replaced once; errNoExecProtocol means nothing was sent.
func (p *Client) execFrames(ctx context.Context, addr string, req *call.Request) (int, []byte, error) {
	for retried := false; ; retried = true {
		if ctx.Err() != nil {
			return 0, nil, late(ctx, addr)
		}
		l, err := p.link(ctx, addr)
		if err != nil {
			return 0, nil, err
		}
		status, body, err := l.exec(ctx, req)
		if errors.Is(err, errLinkDown) && !retried {
			continue
		}
		return status, body, err
	}
}

// late is the error of a call whose context ended before its answer came.
func late(ctx context.Context, addr string) error {
	return errkind.Wrap(errkind.Timeout, ctx.Err(), "node %s did not answer in time", addr)
}

// link is the link to addr, dialled if there is none.
func (p *Client) link(ctx context.Context, addr string) (*execLink, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errkind.New(errkind.Unavailable, "this node is shutting down")
	}
	if until, ok := p.httpOnly[addr]; ok {
		if time.Now().Before(until) {
			p.mu.Unlock()
			return nil, errNoExecProtocol
		}
		delete(p.httpOnly, addr)
	}
	l := p.links[addr]
	if l == nil {
		l = &execLink{p: p, addr: addr, ready: make(chan struct{}), done: make(chan struct{})}
		p.links[addr] = l
		// Not on the caller's context: other calls wait for the same link.
		go l.dial()
	}
	p.mu.Unlock()
	select {
	case <-l.ready:
	case <-ctx.Done():
		return nil, late(ctx, addr)
	}
	if l.err != nil {
		return nil, l.err
	}
	return l, nil
}

// forget drops l from the client's links, so that the next call dials anew, and for a node that
// refused the protocol calls it over HTTP for a while.
func (p *Client) forget(l *execLink, refused bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.links[l.addr] == l {
		delete(p.links, l.addr)
	}
	if refused {
		p.httpOnly[l.addr] = time.Now().Add(httpOnlyFor)
	}
}

// dial brings the link up, or says why it could not (l.err).
func (l *execLink) dial() {
	err := l.open()
	if err != nil {
		l.p.forget(l, errors.Is(err, errNoExecProtocol))
		l.err = err
		close(l.done)
		close(l.ready)
		return
	}
	close(l.ready)
	go l.read()
	go l.watch()
	l.p.mu.Lock()
	closed := l.p.closed
	l.p.mu.Unlock()
	if closed { // Close came while it dialled
		l.fail(errLinkDown)
	}
}

// open connects, proves this node, and exchanges the protocol's greeting: the node echoes it
// before it reads any call, so a node that does not (an older version closes the connection at
// once, a plain HTTP server answers an error) has run nothing.
func (l *execLink) open() error {
	if _, err := url.Parse("http://" + l.addr + "/"); err != nil {
		return errkind.Wrap(errkind.BadRequest, err, "request to node %s", l.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), linkDialTimeout)
	defer cancel()
	conn, err := l.p.proof.Dial(ctx, l.addr, 0)
	if err != nil {
		return l.p.unreachable(l.addr, err)
	}
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	r := bufio.NewReaderSize(conn, 32<<10)
	echo := make([]byte, len(execMagic))
	_, err = conn.Write([]byte(execMagic))
	var n int
	if err == nil {
		n, err = io.ReadFull(r, echo)
	}
	switch {
	case string(echo[:n]) != execMagic[:n], // something else answered
		n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)): // closed unanswered
		_ = conn.Close()
		return errNoExecProtocol
	case err != nil:
		_ = conn.Close()
		return l.p.unreachable(l.addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	l.conn, l.r, l.w = conn, r, newFrameWriter(conn)
	return nil
}

// exec sends one call and waits for its answer or the end of ctx.
func (l *execLink) exec(ctx context.Context, req *call.Request) (int, []byte, error) {
	company := l.active.Add(1) > 1
	defer l.active.Add(-1)
	ch := make(chan linkAnswer, 1)
	id, err := l.calls.Add(ch)
	if err != nil {
		return 0, nil, errLinkDown
	}
	c := callFrame{clearance: req.Caller.Clearance.String(), userID: req.Caller.UserID, requestID: req.RequestID,
		module: req.Target.ModuleID, function: req.Function, args: req.Args}
	if len(c.args) == 0 {
		c.args = emptyArgs
	}
	if dl, ok := ctx.Deadline(); ok {
		c.timeoutMS = uint64(max(time.Until(dl).Milliseconds(), 1))
	}
	err = l.w.write(func(b []byte) []byte { return append(appendCallHead(b, id, &c), c.args...) }, company)
	if err != nil {
		l.fail(err) // the answer is this failure
	}
	select {
	case a := <-ch:
		return a.status, a.body, a.err
	case <-ctx.Done():
		if !l.calls.Remove(id) {
			a := <-ch // the reader has it already
			return a.status, a.body, a.err
		}
		// At the deadline the owner ends the call itself: it counts timeoutMS from the call's
		// arrival, so its deadline is this one plus the call's transit. A cancel frame would
		// reach it before that and end the driver's context as Canceled, not DeadlineExceeded.
		// A caller that went away (cancelled) has the owner stop at once, as when an HTTP caller
		// hangs up. Sent aside: a link that stopped taking writes must not hold the caller.
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			go func() { _ = l.w.frame(frameCancel, id) }()
		}
		return 0, nil, late(ctx, l.addr)
	}
}

// emptyArgs is what a call without arguments sends, as the HTTP route's body did.
var emptyArgs = []byte("[]")

// read hands each answer to its call until the link breaks.
func (l *execLink) read() {
	for {
		typ, id, size, err := readHeader(l.r)
		if err == nil && size > maxAnswerFrame {
			err = errFrame
		}
		if err != nil {
			l.fail(err)
			return
		}
		l.frames.Add(1)
		switch typ {
		case frameAnswer:
			p, err := readPayload(l.r, size)
			if err != nil {
				l.fail(err)
				return
			}
			status, body, err := parseAnswer(p)
			if err != nil {
				l.fail(err)
				return
			}
			if ch := l.calls.Take(id); ch != nil { // else its caller gave up
				ch <- linkAnswer{status: status, body: body}
			}
		case framePong:
			if size != 0 {
				l.fail(errFrame)
				return
			}
		default:
			l.fail(errFrame)
			return
		}
	}
}

// fail ends the link: every call waiting on it fails with cause, and the next call dials anew.
func (l *execLink) fail(cause error) {
	pending, ok := l.end(cause, false)
	if !ok {
		return
	}
	err := errkind.Wrap(errkind.Unavailable, cause, "node %s is unreachable: the connection broke before it answered", l.addr)
	for _, ch := range pending {
		ch <- linkAnswer{err: err}
	}
}

// end marks the link dead, unless it is dead already or (onlyIdle) has calls waiting, closes it
// and returns the calls that were waiting.
func (l *execLink) end(cause error, onlyIdle bool) (map[uint64]chan linkAnswer, bool) {
	pending, ok := l.calls.End(cause, onlyIdle)
	if !ok {
		return nil, false
	}
	l.p.forget(l, false)
	close(l.done)
	_ = l.conn.Close()
	return pending, true
}

// watch pings a link whose calls wait on a silent node, drops it if the node stays silent, and
// closes it once it has been idle for a while (linkTimings).
func (l *execLink) watch() {
	t := time.NewTicker(l.p.timings.check)
	defer t.Stop()
	var frames, calls uint64
	silent, idle := 0, time.Duration(0)
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
		}
		f := l.frames.Load()
		waiting, made := l.calls.Counts()
		switch {
		case f != frames || waiting == 0:
			silent = 0
		case silent == 0:
			silent = 1
			if err := l.w.frame(framePing, 0); err != nil {
				l.fail(err)
				return
			}
		case silent >= linkPingPeriods:
			l.fail(errors.New("no answer to a ping"))
			return
		default:
			silent++
		}
		if waiting == 0 && made == calls {
			if idle += l.p.timings.check; idle >= l.p.timings.idle {
				if _, ok := l.end(errLinkDown, true); ok {
					return
				}
			}
		} else {
			idle = 0
		}
		frames, calls = f, made
	}
}

// Close ends the client's exec links; calls waiting on them fail.
func (p *Client) Close() {
	p.mu.Lock()
	p.closed = true
	links := make([]*execLink, 0, len(p.links))
	for _, l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		select {
		case <-l.ready:
			if l.err == nil {
				l.fail(errLinkDown)
			}
		default: // still dialling: it ends when its dial does
		}
	}
}
