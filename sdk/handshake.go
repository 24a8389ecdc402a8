package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/placeos-go/engine/errkind"
)

// DefaultHandshakeTimeout bounds a connection's handshake (TCPOptions.HandshakeTimeout).
const DefaultHandshakeTimeout = 5 * time.Second

// ErrHandshakeTimeout is Handshake.Next's error once the handshake's time is up.
var ErrHandshakeTimeout = errkind.New(errkind.Timeout, "handshake timed out")

// Handshake is a new connection as TCPOptions.Handshake sees it: before any command, with the
// frames the device sends (split by the transport's tokenizer) going to Next, not to Received.
type Handshake struct {
	l      link
	frames chan []byte
}

// handshakeBacklog is how many frames a handshake may leave unread before more are dropped.
const handshakeBacklog = 64

// Next returns the next frame from the device. It fails with ErrHandshakeTimeout when the
// handshake's time is up, with ErrNotConnected when the connection ends, or with ctx's error.
func (h *Handshake) Next(ctx context.Context) ([]byte, error) {
	// What arrived comes first, even when the connection has ended since: a device often
	// answers a refused login and hangs up at once.
	select {
	case f := <-h.frames:
		return f, nil
	default:
	}
	select {
	case f := <-h.frames:
		return f, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// Send writes data to the device as is.
func (h *Handshake) Send(ctx context.Context, data []byte) error {
	if err := h.l.write(ctx, data); err != nil {
		return fmt.Errorf("handshake send: %w: %w", ErrNotConnected, err)
	}
	return nil
}

// startHandshake makes the frames of new connection l go to a handshake, before anything is
// read from l; nil when the transport has none.
func (c *Conn) startHandshake(l link) *Handshake {
	if c.cfg.handshake == nil {
		return nil
	}
	h := &Handshake{l: l, frames: make(chan []byte, handshakeBacklog)}
	c.hs.Store(h)
	return h
}

// handshake runs handshake h, within ctx (the connection's life) and the handshake timeout on
// the module's clock. It returns the error commands get if it failed: the hook's own when it
// chose a code (an *Error), else a 504 for a timeout and a 502 otherwise.
func (c *Conn) handshake(ctx context.Context, h *Handshake) error {
	defer c.hs.CompareAndSwap(h, nil)
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := c.b.Clock().AfterFunc(c.cfg.handshakeTimeout, func() {
		cancel(fmt.Errorf("%w after %s", ErrHandshakeTimeout, c.cfg.handshakeTimeout))
	})
	defer timer.Stop()
	err := c.cfg.handshake(hctx, h)
	if err == nil {
		return nil
	}
	var coder interface{ Code() int }
	switch {
	case errors.As(err, &coder):
		return err
	case errors.Is(err, ErrHandshakeTimeout):
		return &Error{Status: 504, Kind: "HandshakeTimeout", Err: err}
	default:
		return &Error{Status: 502, Kind: "HandshakeFailed", Err: err}
	}
}

// toHandshake hands a frame to the running handshake; false when none runs.
func (c *Conn) toHandshake(frame []byte) bool {
	h := c.hs.Load()
	if h == nil {
		return false
	}
	select {
	case h.frames <- frame:
	default:
		c.b.Logger().Warn("dropping a frame the handshake did not read", "transport", c.cfg.kind, "frame", abbreviate(frame))
	}
	return true
}

// offlineError is what an unnamed command gets while the transport is offline after a failed
// handshake: the handshake's error, which also counts as ErrOffline.
type offlineError struct{ err error }

func (e *offlineError) Error() string   { return e.err.Error() }
func (e *offlineError) Unwrap() []error { return []error{e.err, ErrOffline} }
