package httpapi

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/placeos-go/engine/errkind"
)

// ErrShuttingDown is the cause every request and WebSocket exec still in flight is cancelled
// with when Close's drain period ends: the caller gets 503 unavailable (Retry-After: 1) through
// the one error mapping, where a hard close of its connection would leave it with no answer.
var ErrShuttingDown = errkind.New(errkind.Unavailable, "this node is shutting down; retry on another node, or once it is back")

// answerReserve is the end of Close's time kept for answering what is still in flight: the
// cancelled calls return within milliseconds (gRPC and the peer client honour their context),
// and the answers must be written before the connections close.
const answerReserve = time.Second

// answerAt is when Close stops waiting for requests in flight and answers them: answerReserve
// before ctx's deadline (half the time left when that is shorter). Without a deadline (bounded
// false) Close waits for REST requests as long as they take, and answers WebSocket execs once
// those are done.
func answerAt(ctx context.Context) (at time.Time, bounded bool) {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Time{}, false
	}
	return d.Add(-min(answerReserve, time.Until(d)/2)), true
}

// shuttingDown is err as the caller should see it: ErrShuttingDown when ctx ended because the
// server is shutting down, whatever the cancelled call failed with (a cancelled driver call,
// a peer's broken request).
func shuttingDown(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrShuttingDown) {
		return ErrShuttingDown
	}
	return err
}

// waitExecs waits until no WebSocket session has an exec in flight, or ctx ends. Sessions are
// closed already to newcomers (ws.closed).
func (s *Server) waitExecs(ctx context.Context) {
	s.ws.mu.Lock()
	var wg sync.WaitGroup
	for ss := range s.ws.sessions {
		wg.Add(1)
		go func() { defer wg.Done(); ss.execs.Wait() }()
	}
	s.ws.mu.Unlock()
	done := make(chan struct{})
	go func() { defer close(done); wg.Wait() }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// admitExec counts a WebSocket exec in ss.execs unless Close has begun.
func (s *Server) admitExec(ss *wsSession) bool {
	s.ws.gate.RLock()
	defer s.ws.gate.RUnlock()
	if s.ws.draining {
		return false
	}
	ss.execs.Add(1)
	return true
}

// drain refuses new WebSocket sessions and execs: Close waits for those in flight.
func (s *Server) drain() {
	s.ws.gate.Lock()
	s.ws.draining = true
	s.ws.gate.Unlock()
	s.ws.mu.Lock()
	s.ws.closed = true
	s.ws.mu.Unlock()
}
