package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// session is one connection's login. The switcher opens every connection with its banner,
// then asks for the password when it has one, and would take a command sent before that as a
// (wrong) password: commands wait until the session is open.
type session struct {
	mu       sync.Mutex
	ready    chan struct{} // closed when commands may go out (or never will: err)
	lost     chan struct{} // closed when the connection ends
	password bool          // the password has been sent on this connection
	err      error
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
	s.password, s.err = false, nil
}

// open lets commands go out.
func (s *session) open() { s.end(nil) }

// fail stops every command on this connection with err.
func (s *session) fail(err error) { s.end(err) }

func (s *session) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
	}
	select {
	case <-s.ready:
	default:
		close(s.ready)
	}
}

// failed reports whether the connection is unusable.
func (s *session) failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err != nil
}

// passwordSent reports whether the password went out on this connection already, and records
// that it goes now: the switcher gets it once per connection.
func (s *session) passwordSent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sent := s.password
	s.password = true
	return sent
}

// await waits until the session is open, at most timeout on clock. A connection that ends
// meanwhile is sdk.ErrNotConnected, which the queue retries on the next connection.
func (s *session) await(ctx context.Context, clock sdk.Clock, timeout time.Duration) error {
	s.mu.Lock()
	ready, lost := s.ready, s.lost
	s.mu.Unlock()
	expired := make(chan struct{})
	timer := clock.AfterFunc(timeout, func() { close(expired) })
	defer timer.Stop()
	select {
	case <-ready:
	case <-lost:
		return fmt.Errorf("connection closed before the switcher took commands: %w", sdk.ErrNotConnected)
	case <-expired:
		return &sdk.Error{Status: 504, Kind: "NoLogin", Err: fmt.Errorf(
			"the switcher did not open the session within %s: no Extron banner, or no Password: prompt while the module has a password", timeout)}
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if lost != s.lost {
		return fmt.Errorf("connection closed after the login: %w", sdk.ErrNotConnected)
	}
	return s.err
}
