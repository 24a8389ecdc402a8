package peer

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
)

// execSession is one exec connection a node opened to this one: a reader that takes its frames
// in order and hands each call to a worker, which writes the call's answer when it has one.
type execSession struct {
	s    *Server
	conn net.Conn
	r    *bufio.Reader
	w    *frameWriter
	// nodesOnly refuses every call: a TLS peer whose certificate names no node, as the HTTP
	// routes answer it.
	nodesOnly bool
	node      string

	ctx    context.Context // ends with the connection: every call's context derives from it
	cancel context.CancelFunc

	mu      sync.Mutex
	calls   map[uint64]context.CancelFunc // the calls running, for frameCancel
	wg      sync.WaitGroup                // the calls running
	running atomic.Int32                  // the calls running, read without the lock: an answer with others due yields first (frameWriter.write)
}

// serveExec answers one exec connection until it ends or the server stops reading it (Close).
func (s *Server) serveExec(conn net.Conn) {
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	cs := tlsOf(conn)
	r := bufio.NewReaderSize(conn, 32<<10)
	magic, err := r.Peek(len(execMagic))
	if err != nil || string(magic) != execMagic {
		s.log.Debug("exec connection refused: no exec greeting", "remote", conn.RemoteAddr().String())
		_ = conn.Close()
		return
	}
	_, _ = r.Discard(len(execMagic))
	x := &execSession{s: s, conn: conn, r: r, w: newFrameWriter(conn), calls: map[uint64]context.CancelFunc{}}
	if cs != nil {
		x.node = clustertls.PeerNode(cs)
		x.nodesOnly = x.node == ""
	}
	// Answered before any call is read: a caller that does not get it knows nothing ran here.
	if err := x.w.write(func(b []byte) []byte { return append(b, execMagic...) }, false); err != nil {
		_ = conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	x.ctx, x.cancel = context.WithCancel(context.Background())
	if !s.addSession(x) {
		_ = conn.Close()
		return
	}
	err = x.read()
	if !s.stopping() {
		// The calling node went away (or broke the protocol): its calls are abandoned, as an
		// HTTP request's when its client hangs up.
		x.cancel()
	}
	x.wg.Wait()
	x.cancel()
	_ = conn.Close()
	s.removeSession(x)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !s.stopping() {
		s.log.Debug("exec connection ended", "remote", conn.RemoteAddr().String(), "peer", x.node, "error", err)
	}
}

// read takes frames until the stream ends.
func (x *execSession) read() error {
	for {
		typ, id, size, err := readHeader(x.r)
		if err != nil {
			return err
		}
		switch typ {
		case frameCall:
			if int64(size) > x.s.cfg.MaxBodyBytes {
				if _, err := x.r.Discard(size); err != nil {
					return err
				}
				x.start(id, nil, &http.MaxBytesError{Limit: x.s.cfg.MaxBodyBytes})
				continue
			}
			p, err := readPayload(x.r, size)
			if err != nil {
				return err
			}
			x.start(id, p, nil)
		case frameCancel:
			if size != 0 {
				return errFrame
			}
			x.mu.Lock()
			cancel := x.calls[id]
			x.mu.Unlock()
			if cancel != nil {
				cancel()
			}
		case framePing:
			if size != 0 {
				return errFrame
			}
			if err := x.w.frame(framePong, id); err != nil {
				return err
			}
		default:
			return errFrame
		}
	}
}

// start runs call id (payload p, or the failure refused) on a worker.
func (x *execSession) start(id uint64, p []byte, refused error) {
	ctx, cancel := context.WithCancel(x.ctx)
	x.mu.Lock()
	x.calls[id] = cancel
	x.mu.Unlock()
	x.wg.Add(1)
	x.running.Add(1)
	j := execJob{x: x, id: id, p: p, refused: refused, ctx: ctx, cancel: cancel}
	select {
	case x.s.jobs <- j: // an idle worker takes it
	default:
		go x.s.work(j)
	}
}

// execJob is a call for a worker.
type execJob struct {
	x       *execSession
	id      uint64
	p       []byte
	refused error
	ctx     context.Context
	cancel  context.CancelFunc
}

// workerIdle is how long a worker without calls waits for one before it ends.
const workerIdle = 30 * time.Second

// work runs calls until none comes for workerIdle. A call runs on a worker, not a goroutine of
// its own, because the stack a call needs (the core, gRPC to the driver) is grown once per
// worker instead of once per call.
//
// The idle timer is not reset after every call (a runtime timer update each): when it fires, a
// worker that took a call since goes on until workerIdle after that call.
func (s *Server) work(j execJob) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		j.x.run(j.ctx, j.id, j.p, j.refused)
		j.x.running.Add(-1)
		j.x.mu.Lock()
		delete(j.x.calls, j.id)
		j.x.mu.Unlock()
		j.cancel()
		j.x.wg.Done()
		last := time.Now()
		for next := false; !next; {
			select {
			case j = <-s.jobs:
				next = true
			case <-idle.C:
				rest := workerIdle - time.Since(last)
				if rest <= 0 {
					return
				}
				idle.Reset(rest)
			case <-s.quit:
				return
			}
		}
	}
}

// run is the execute route's middleware and handler for one call: the same request id, caller,
// checks, answers and log lines.
func (x *execSession) run(ctx context.Context, id uint64, p []byte, refused error) {
	start := time.Now()
	c, err := parseCall(p)
	if refused == nil && err != nil {
		refused = errkind.Wrap(httpwire.ErrBadBody, err, "exec frame")
	}
	ex := &exchange{}
	rid := c.requestID
	if !httpwire.AcceptableRequestID(rid) {
		rid = httpwire.NewRequestID()
	}
	ex.rid[0] = rid
	ex.ctx.Init(ctx, &ex.rid[0])
	ex.ctx.SetCaller(auth.NodeCallerOf(c.userID, c.clearance))
	t := call.Target{ModuleID: c.module}
	defer func() {
		if x.s.log.IsDebug() {
			x.s.log.Debug("request", "request_id", rid, "method", "EXEC", "path", executePath(c.module),
				"peer", x.node, "duration", time.Since(start))
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			x.s.log.Error("handler panicked", "request_id", rid, "module", c.module, "panic", v, "stack", string(debug.Stack()))
			x.fail(&ex.ctx, id, errkind.New(errkind.Internal, "handler panicked"), t)
		}
	}()
	switch {
	case x.nodesOnly:
		refused = ErrNodesOnly
	case refused == nil && c.function == "":
		refused = errBadExecBody
	}
	if refused != nil {
		x.fail(&ex.ctx, id, refused, t)
		return
	}
	timeout := time.Duration(c.timeoutMS) * time.Millisecond
	res, err := x.s.cfg.Local.ExecuteHere(&ex.ctx, call.Request{
		Target: t, Function: c.function, Args: c.args, Caller: auth.CallerFrom(&ex.ctx),
		RequestID: rid, Timeout: timeout,
	})
	if err != nil {
		x.fail(&ex.ctx, id, err, t)
		return
	}
	x.answer(id, res.Code, res.Value)
}

// answer writes call id's answer; a connection that broke meanwhile loses it, as its caller is
// gone.
func (x *execSession) answer(id uint64, status int, body []byte) {
	_ = x.w.write(func(b []byte) []byte { return append(appendAnswerHead(b, id, status, len(body)), body...) },
		x.running.Load() > 1)
}

// fail answers call id with err as the HTTP route would: the same status, error body and log
// line (httpwire.WriteError).
func (x *execSession) fail(ctx context.Context, id uint64, err error, t call.Target) {
	w := &recorder{header: http.Header{}}
	r := (&http.Request{Method: http.MethodPost, URL: &url.URL{Path: executePath(t.ModuleID)}}).WithContext(ctx)
	x.s.fail(w, r, err, t)
	x.answer(id, w.status, w.body)
}

// recorder is an http.ResponseWriter that keeps an error answer for a frame (WriteError sets the
// status, then writes the body once).
type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (w *recorder) Header() http.Header    { return w.header }
func (w *recorder) WriteHeader(status int) { w.status = status }
func (w *recorder) Write(b []byte) (int, error) {
	w.body = append(w.body, b...)
	return len(b), nil
}

// executePath is the HTTP execute route of a module, as the exec protocol's log lines name it.
func executePath(module string) string { return httpwire.NodeBase + "/command/" + module + "/execute" }

// acceptExec serves the exec connections of ln until it closes.
func (s *Server) acceptExec(ln net.Listener) {
	defer s.execWG.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		s.execWG.Add(1)
		go func() {
			defer s.execWG.Done()
			s.serveExec(conn)
		}()
	}
}

func (s *Server) stopping() bool { return s.stop.Load() }

// addSession tracks x until removeSession; false once Close began.
func (s *Server) addSession(x *execSession) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping() {
		return false
	}
	if s.sessions == nil {
		s.sessions = map[*execSession]struct{}{}
	}
	s.sessions[x] = struct{}{}
	return true
}

func (s *Server) removeSession(x *execSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, x)
}

// closeExec stops reading calls, lets the calls running answer until ctx ends, then cancels them
// and closes the connections.
func (s *Server) closeExec(ctx context.Context) error {
	s.mu.Lock()
	if !s.stop.Swap(true) {
		close(s.quit) // idle workers end; busy ones when their call returns
	}
	ln := s.execLn
	for x := range s.sessions {
		_ = x.conn.SetReadDeadline(time.Now()) // the reader stops; the calls go on
	}
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	done := make(chan struct{})
	go func() {
		s.execWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	// As http.Server.Close: the calls are cancelled, not waited for. The connection first: a
	// call cancelled here must not answer "request cancelled" (which its caller would read as
	// its own cancellation) before the connection goes; its caller sees the owner go away.
	s.mu.Lock()
	for x := range s.sessions {
		_ = x.conn.Close()
		x.cancel()
	}
	s.mu.Unlock()
	return ctx.Err()
}
