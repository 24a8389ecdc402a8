package sdk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// TCPOptions configure a TCP transport. Zero values take the defaults in brackets.
type TCPOptions struct {
	Address     string        // host:port [the module's ip and port]
	Delimiter   []byte        // frame delimiter ["\r\n"]
	MaxFrame    int           // longest frame accepted [64 KiB]
	DialTimeout time.Duration // [5 s]
	MinBackoff  time.Duration // first reconnect delay [250 ms]
	MaxBackoff  time.Duration // longest reconnect delay [5 s]
	// Received gets every frame that is not the answer to a Request (without the delimiter).
	Received func(frame []byte)
	// OnConnect runs in its own goroutine after each successful connect, e.g. to query state.
	// It gets the transport because it may run before NewTCP has returned.
	OnConnect func(ctx context.Context, t *TCP)
}

// TCP is a line-oriented TCP client owned by a module: it connects to the device, reconnects
// with backoff when the connection drops, and keeps the module's "connected" status. It stops
// when the module stops.
//
// Request pairs a command with the next frame that arrives; issue 6's command queue replaces that
// simple matching with per-command response matchers, retries and priorities.
type TCP struct {
	b    *Base
	opts TCPOptions

	reqMu sync.Mutex // one Request at a time

	mu     sync.Mutex
	conn   net.Conn
	waiter chan []byte
	lost   chan struct{} // closed when the current connection is lost
}

// NewTCP starts a TCP transport for the module that b belongs to.
func NewTCP(b *Base, o TCPOptions) *TCP {
	if o.Address == "" {
		c := b.Config()
		o.Address = net.JoinHostPort(c.IP, strconv.Itoa(c.Port))
	}
	if len(o.Delimiter) == 0 {
		o.Delimiter = []byte("\r\n")
	}
	if o.MaxFrame == 0 {
		o.MaxFrame = 64 << 10
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Second
	}
	t := &TCP{b: b, opts: o}
	b.Set("connected", false)
	b.Go(t.run)
	return t
}

// Connected reports whether a connection is open.
func (t *TCP) Connected() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conn != nil
}

// Send writes data as is (add the delimiter yourself if the device wants one).
func (t *TCP) Send(ctx context.Context, data []byte) error {
	t.mu.Lock()
	conn := t.conn
	t.mu.Unlock()
	if conn == nil {
		return ErrNotConnected
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetWriteDeadline(dl)
	} else {
		_ = conn.SetWriteDeadline(time.Time{})
	}
	if _, err := conn.Write(data); err != nil {
		return fmt.Errorf("tcp send to %s: %w", t.opts.Address, err)
	}
	return nil
}

// Request sends data and returns the next frame the device sends, waiting until ctx ends.
func (t *TCP) Request(ctx context.Context, data []byte) ([]byte, error) {
	t.reqMu.Lock()
	defer t.reqMu.Unlock()
	w := make(chan []byte, 1)
	t.mu.Lock()
	lost := t.lost
	if t.conn == nil {
		t.mu.Unlock()
		return nil, ErrNotConnected
	}
	t.waiter = w
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.waiter == w {
			t.waiter = nil
		}
		t.mu.Unlock()
	}()
	if err := t.Send(ctx, data); err != nil {
		return nil, err
	}
	select {
	case frame := <-w:
		return frame, nil
	case <-lost:
		return nil, fmt.Errorf("tcp request to %s: connection lost: %w", t.opts.Address, ErrNotConnected)
	case <-ctx.Done():
		return nil, fmt.Errorf("tcp request to %s: %w", t.opts.Address, ctx.Err())
	}
}

func (t *TCP) run(ctx context.Context) {
	log := t.b.Logger().With("address", t.opts.Address)
	backoff := t.opts.MinBackoff
	for ctx.Err() == nil {
		d := net.Dialer{Timeout: t.opts.DialTimeout}
		conn, err := d.DialContext(ctx, "tcp", t.opts.Address)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Debug("connect failed", "error", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, t.opts.MaxBackoff)
			continue
		}
		backoff = t.opts.MinBackoff
		log.Debug("connected")
		t.serve(ctx, conn)
		log.Debug("disconnected")
	}
}

// serve reads frames from one connection until it breaks or ctx ends.
func (t *TCP) serve(ctx context.Context, conn net.Conn) {
	lost := make(chan struct{})
	t.mu.Lock()
	t.conn, t.lost = conn, lost
	t.mu.Unlock()
	t.b.Set("connected", true)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	var hooks sync.WaitGroup
	if t.opts.OnConnect != nil {
		hctx, cancel := context.WithCancel(ctx)
		defer cancel() // a hook outliving its connection is cut short
		hooks.Add(1)
		go func() {
			defer hooks.Done()
			t.opts.OnConnect(hctx, t)
		}()
	}

	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 4096), t.opts.MaxFrame)
	sc.Split(splitOn(t.opts.Delimiter))
	for sc.Scan() {
		frame := append([]byte(nil), sc.Bytes()...)
		t.mu.Lock()
		w := t.waiter
		t.waiter = nil
		t.mu.Unlock()
		if w != nil {
			w <- frame
			continue
		}
		if t.opts.Received != nil {
			t.opts.Received(frame)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
		t.b.Logger().Warn("tcp read failed", "address", t.opts.Address, "error", err)
	}
	_ = conn.Close()
	t.mu.Lock()
	t.conn = nil
	close(lost)
	t.mu.Unlock()
	t.b.Set("connected", false)
	hooks.Wait()
}

func splitOn(delim []byte) bufio.SplitFunc {
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.Index(data, delim); i >= 0 {
			return i + len(delim), data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	}
}
