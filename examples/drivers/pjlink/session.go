package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// session is what one connection's greeting said. A PJLink projector speaks first on every
// connection ("PJLINK 0", or "PJLINK 1 <random>" when it wants a password), so commands wait
// for the greeting, and with authentication the first command carries the digest.
type session struct {
	mu     sync.Mutex
	ready  chan struct{} // closed by the greeting (or a failure)
	lost   chan struct{} // closed when the connection ends
	digest string        // sent before the next command, once
	err    error         // why no command can go out on this connection
}

func newSession() *session {
	return &session{ready: make(chan struct{}), lost: make(chan struct{})}
}

// reset forgets the connection that ended (TCPOptions.OnDisconnect), before the next one opens.
func (s *session) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.lost)
	s.ready, s.lost = make(chan struct{}), make(chan struct{})
	s.digest, s.err = "", nil
}

// greeted records the greeting: the digest the first command needs ("" for none), or why no
// command can go out. A second greeting on one connection is noise.
func (s *session) greeted(digest string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if isClosed(s.ready) {
		return
	}
	s.digest, s.err = digest, err
	close(s.ready)
}

// fail stops every further command on this connection with err (a refused password).
func (s *session) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
	if !isClosed(s.ready) {
		close(s.ready)
	}
}

// failed reports whether the connection is unusable.
func (s *session) failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err != nil
}

// await waits for the greeting, at most timeout on clock, and returns the digest the next
// command must start with ("" once it has gone out). A connection that ends meanwhile is
// sdk.ErrNotConnected, which the queue retries on the next connection.
func (s *session) await(ctx context.Context, clock sdk.Clock, timeout time.Duration) (string, error) {
	s.mu.Lock()
	ready, lost := s.ready, s.lost
	s.mu.Unlock()
	expired := make(chan struct{})
	timer := clock.AfterFunc(timeout, func() { close(expired) })
	defer timer.Stop()
	select {
	case <-ready:
	case <-lost:
		return "", fmt.Errorf("connection closed before the projector's greeting: %w", sdk.ErrNotConnected)
	case <-expired:
		return "", &sdk.Error{Status: 504, Kind: "NoGreeting",
			Err: fmt.Errorf("projector sent no PJLink greeting within %s of the command; is this a PJLink projector (port 4352)?", timeout)}
	case <-ctx.Done():
		return "", ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if lost != s.lost {
		return "", fmt.Errorf("connection closed after the projector's greeting: %w", sdk.ErrNotConnected)
	}
	return s.digest, s.err
}

// sent records that the digest went out: later commands on this connection go without it.
func (s *session) sent() {
	s.mu.Lock()
	s.digest = ""
	s.mu.Unlock()
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
