package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// link is one open connection of a stream transport (TCP, TLS, UDP, WebSocket, SSH).
type link interface {
	// read returns the next chunk: what one socket read, datagram or message produced.
	read() ([]byte, error)
	write(ctx context.Context, data []byte) error
	close() error
}

// connConfig is what every stream transport shares.
type connConfig struct {
	kind       string
	addr       string
	dial       func(ctx context.Context) (link, error)
	tokenizer  *Tokenizer // nil: every chunk is a frame
	received   func(frame []byte, t *Task)
	onConnect  func(ctx context.Context, c *Conn)
	minBackoff time.Duration
	maxBackoff time.Duration
	makebreak  bool
	idle       time.Duration

	// onDisconnect runs as a connection ends, before the next dial (TCPOptions.OnDisconnect).
	onDisconnect func()
	// handshake runs on each new connection before the queue goes online (TCPOptions.Handshake).
	handshake        func(ctx context.Context, h *Handshake) error
	handshakeTimeout time.Duration
}

// Conn is a connection-oriented transport owned by a module (TCP, UDP, WebSocket and SSH are
// all a Conn). It connects with backoff on the module's clock, keeps the module's "connected"
// status and its queue's online state, splits what arrives with its tokenizer and routes each
// frame to the running command (Command.Response) or to the Received callback. It is the
// module queue's sender: Command.Data is written here.
//
// With makebreak the connection is opened for a command and closed after it has been idle for
// a while; the module counts as connected (as in PlaceOS) and the queue stays online.
type Conn struct {
	b   *Base
	cfg connConfig
	q   *Queue

	mu        sync.Mutex
	l         link
	lost      chan struct{} // closed when l is lost
	idleTimer Timer
	readers   sync.WaitGroup
	hs        atomic.Pointer[Handshake] // the handshake running, which takes the frames
	// shakeErr and shakeFails are the failed handshakes since the last one that succeeded
	// (guarded by mu): shakeFailed logs a failure repeating the last one at DEBUG.
	shakeErr   string
	shakeFails int
}

func newConn(b *Base, cfg connConfig) *Conn {
	if cfg.minBackoff == 0 {
		cfg.minBackoff = 250 * time.Millisecond
	}
	if cfg.maxBackoff == 0 {
		cfg.maxBackoff = 5 * time.Second
	}
	if cfg.idle == 0 {
		cfg.idle = 10 * time.Second
	}
	if cfg.handshakeTimeout == 0 {
		cfg.handshakeTimeout = DefaultHandshakeTimeout
	}
	c := &Conn{b: b, cfg: cfg, q: b.Queue()}
	c.q.setSender(c.Send)
	if cfg.makebreak {
		b.Set("connected", true)
		c.q.SetOnline(true)
		b.Go(func(ctx context.Context) {
			<-ctx.Done()
			c.Disconnect()
			c.readers.Wait()
		})
		return c
	}
	b.Set("connected", false)
	c.q.SetOnline(false)
	b.Go(c.run)
	return c
}

// Address is where the transport connects.
func (c *Conn) Address() string { return c.cfg.addr }

// Connected reports whether a connection is open.
func (c *Conn) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.l != nil
}

// Disconnect closes the open connection; a persistent transport reconnects after its backoff.
func (c *Conn) Disconnect() {
	c.mu.Lock()
	l := c.l
	c.mu.Unlock()
	if l != nil {
		_ = l.close()
	}
}

// Send writes data as is, outside the queue (add the delimiter yourself if the device wants
// one). With makebreak it connects first.
func (c *Conn) Send(ctx context.Context, data []byte) error {
	c.mu.Lock()
	l := c.l
	c.mu.Unlock()
	if l == nil {
		if !c.cfg.makebreak {
			return fmt.Errorf("%s %s: %w", c.cfg.kind, c.cfg.addr, ErrNotConnected)
		}
		var err error
		if l, err = c.connectFor(ctx); err != nil {
			return err
		}
	}
	c.touch()
	if err := l.write(ctx, data); err != nil {
		_ = l.close()
		return fmt.Errorf("%s send to %s: %w: %w", c.cfg.kind, c.cfg.addr, ErrNotConnected, err)
	}
	return nil
}

// Request queues data as a command and returns the first frame received after it was sent
// (waiting until ctx ends; the command's own timeout and retries apply).
func (c *Conn) Request(ctx context.Context, data []byte) ([]byte, error) {
	v, err := c.q.Do(ctx, Command{Data: data, Response: func(frame []byte, t *Task) { t.Success(frame) }})
	if err != nil {
		return nil, fmt.Errorf("%s request to %s: %w", c.cfg.kind, c.cfg.addr, err)
	}
	frame, _ := v.([]byte)
	return frame, nil
}

func (c *Conn) run(ctx context.Context) {
	log := c.b.Logger().With("transport", c.cfg.kind, "address", c.cfg.addr)
	backoff := c.cfg.minBackoff
	// Failed connects since the last one that worked: the first, and one with a new error, is a
	// WARN (the device is off or unreachable: an operator wants to know), the same error again a
	// DEBUG (it is retried every few seconds for as long as the device stays away).
	fails, lastErr := 0, ""
	for ctx.Err() == nil {
		l, err := c.cfg.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			level := hclog.Warn
			if fails > 0 && err.Error() == lastErr {
				level = hclog.Debug
			}
			fails, lastErr = fails+1, err.Error()
			// Durations as text: the line reaches the engine as JSON, where a Duration is a bare
			// number of nanoseconds that the engine's log prints as 2.5e+08.
			log.Log(level, "connect failed", "error", err, "retry_in", backoff.String(), "failures", fails)
			if !sleep(c.b.Clock(), backoff, ctx.Done(), nil) {
				return
			}
			backoff = min(backoff*2, c.cfg.maxBackoff)
			continue
		}
		if fails > 0 {
			log.Info("connected", "after_failures", fails)
			fails, lastErr = 0, ""
		} else {
			log.Debug("connected")
		}
		// A connection whose handshake failed counts as a failed connect: the pauses grow, so a
		// device that refuses the login is not asked again and again; but new settings (a
		// corrected password) are tried at once.
		changed := c.b.m.settingsChanged()
		online := c.serve(ctx, l)
		if online {
			backoff, changed = c.cfg.minBackoff, nil
		}
		log.Debug("disconnected", "reconnect_in", backoff.String())
		// Pause before redialling: a device that accepts and drops at once must not be hammered.
		if !sleep(c.b.Clock(), backoff, ctx.Done(), changed) {
			return
		}
		if !online {
			backoff = min(backoff*2, c.cfg.maxBackoff)
		}
	}
}

// connectOnce opens a makebreak connection for a command.
func (c *Conn) connectOnce(ctx context.Context) (link, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.l != nil {
		return c.l, nil
	}
	mctx := c.b.Context()
	if mctx.Err() != nil {
		return nil, ErrStopped
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(mctx, cancel)
	defer stop()
	l, err := c.cfg.dial(dctx)
	if err != nil {
		return nil, fmt.Errorf("%s connect to %s: %w: %w", c.cfg.kind, c.cfg.addr, ErrNotConnected, err)
	}
	c.l, c.lost = l, make(chan struct{})
	if c.cfg.tokenizer != nil {
		c.cfg.tokenizer.Reset()
	}
	c.startHandshake(l)
	c.readers.Add(1)
	go func() {
		defer c.readers.Done()
		c.read(mctx, l)
		c.dropped(l)
	}()
	return l, nil
}

// connectFor opens a makebreak connection for a command and runs its handshake, whose error
// fails the command.
func (c *Conn) connectFor(ctx context.Context) (link, error) {
	l, err := c.connectOnce(ctx)
	if err != nil {
		return nil, err
	}
	h := c.hs.Load()
	if h == nil || h.l != l {
		return l, nil // no handshake, or the connection was open already
	}
	if err := c.handshake(ctx, h); err != nil {
		c.shakeFailed(err)
		_ = l.close()
		c.dropped(l) // now, not when the reader notices: the next command opens a new one
		return nil, err
	}
	c.shakeSucceeded()
	return l, nil
}

// shakeFailed logs a failed handshake: at WARN the first time and whenever the error changes, at
// DEBUG while the same error repeats — a wrong password fails every reconnect, and a line every
// few seconds would bury the rest of the log.
func (c *Conn) shakeFailed(err error) {
	c.mu.Lock()
	same := c.shakeFails > 0 && c.shakeErr == err.Error()
	c.shakeErr = err.Error()
	c.shakeFails++
	n := c.shakeFails
	c.mu.Unlock()
	level := hclog.Warn
	if same {
		level = hclog.Debug
	}
	c.b.Logger().Log(level, "handshake failed", "transport", c.cfg.kind, "address", c.cfg.addr, "error", err, "failures", n)
}

// shakeSucceeded logs, at INFO, a handshake that succeeded after failed ones.
func (c *Conn) shakeSucceeded() {
	c.mu.Lock()
	n := c.shakeFails
	c.shakeErr, c.shakeFails = "", 0
	c.mu.Unlock()
	if n > 0 {
		c.b.Logger().Info("handshake succeeded", "transport", c.cfg.kind, "address", c.cfg.addr, "after_failures", n)
	}
}

// touch restarts the makebreak idle timer.
func (c *Conn) touch() {
	if !c.cfg.makebreak {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	l := c.l
	c.idleTimer = c.b.Clock().AfterFunc(c.cfg.idle, func() {
		// Never cut a command short: wait for the queue to be idle.
		if c.q.Current() != nil {
			c.touch()
			return
		}
		if l != nil {
			_ = l.close()
		}
	})
}

// serve runs one persistent connection until it breaks or ctx ends, and reports whether it
// went online (its handshake, if any, succeeded).
func (c *Conn) serve(ctx context.Context, l link) bool {
	c.mu.Lock()
	c.l, c.lost = l, make(chan struct{})
	c.mu.Unlock()
	if c.cfg.tokenizer != nil {
		c.cfg.tokenizer.Reset()
	}
	stop := context.AfterFunc(ctx, func() { _ = l.close() })
	defer stop()

	// The hooks' context is the connection's: it ends when the connection does, before serve
	// waits for the hooks, so a hook that watches the connection until then cannot hold up the
	// reconnect.
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hooks := c.startHooks(hctx, l)
	c.read(ctx, l)
	_ = l.close()
	cancel(fmt.Errorf("%s %s: connection closed: %w", c.cfg.kind, c.cfg.addr, ErrNotConnected))
	c.dropped(l)
	c.q.SetOnline(false)
	c.b.Set("connected", false)
	hooks.wg.Wait()
	return hooks.online.Load()
}

// connHooks are what runs for one connection besides its reader: the handshake and OnConnect.
type connHooks struct {
	wg     sync.WaitGroup
	online atomic.Bool // the connection went online (its handshake, if any, succeeded)
}

// startHooks takes connection l online, or starts its handshake, which does once it succeeds;
// then OnConnect runs. A function of its own: serve's stack frame stays small while it reads,
// and an idle module's reader goroutine with it.
func (c *Conn) startHooks(ctx context.Context, l link) *connHooks {
	hooks := &connHooks{}
	h := c.startHandshake(l)
	if h == nil {
		hooks.online.Store(c.goOnline(l))
	}
	if h == nil && c.cfg.onConnect == nil {
		return hooks
	}
	hooks.wg.Add(1)
	c.b.m.hooks.Add(1)
	go func() {
		defer hooks.wg.Done()
		defer c.b.m.hooks.Add(-1)
		if h != nil {
			if !c.shake(ctx, h) {
				return
			}
			hooks.online.Store(true)
		}
		if c.cfg.onConnect != nil {
			c.cfg.onConnect(ctx, c)
		}
	}()
	return hooks
}

// shake runs the handshake of a persistent connection and takes it online; when the handshake
// fails it closes the connection, and its error is what unnamed commands get until a handshake
// succeeds.
func (c *Conn) shake(ctx context.Context, h *Handshake) bool {
	err := c.handshake(ctx, h)
	if err == nil {
		c.shakeSucceeded()
		return c.goOnline(h.l)
	}
	if errors.Is(err, ErrNotConnected) || c.b.Context().Err() != nil {
		return false // the connection (or the module) ended first: nothing was refused
	}
	c.q.setOfflineError(err) // before the line: who saw it finds the calls answered with err
	c.shakeFailed(err)
	_ = h.l.close()
	return false
}

// goOnline marks the module connected and its queue online, unless l has been lost meanwhile.
func (c *Conn) goOnline(l link) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.l != l {
		return false
	}
	c.b.Set("connected", true)
	c.q.SetOnline(true)
	return true
}

func (c *Conn) dropped(l link) {
	c.mu.Lock()
	current := c.l == l
	if current {
		c.l = nil
		close(c.lost)
	}
	c.mu.Unlock()
	if current && c.cfg.onDisconnect != nil {
		c.cfg.onDisconnect()
	}
}

func (c *Conn) read(ctx context.Context, l link) {
	for {
		chunk, err := l.read()
		if len(chunk) > 0 {
			c.touch()
			c.deliver(chunk)
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) && ctx.Err() == nil {
				c.b.Logger().Debug("read failed", "transport", c.cfg.kind, "address", c.cfg.addr, "error", err)
			}
			return
		}
	}
}

func (c *Conn) deliver(chunk []byte) {
	if c.cfg.tokenizer == nil {
		c.route(chunk)
		return
	}
	frames, err := c.cfg.tokenizer.Feed(chunk)
	for _, f := range frames {
		c.route(f)
	}
	if err == nil {
		return
	}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() { // Feed joins what it dropped
		var bad *FrameError
		if errors.As(e, &bad) {
			c.b.Logger().Warn("dropping a bad frame", "transport", c.cfg.kind, "frame", fmt.Sprintf("% X", bad.Frame), "error", bad.Err)
			continue
		}
		c.b.Logger().Warn("dropping unframed data", "transport", c.cfg.kind, "error", e)
	}
}

// route gives a frame to the running handshake, else to the running command or Received.
func (c *Conn) route(frame []byte) {
	if !c.toHandshake(frame) {
		c.q.deliver(frame, c.cfg.received)
	}
}

// netLink is a net.Conn (TCP, TLS, UDP).
type netLink struct {
	conn net.Conn
	buf  []byte
	udp  bool
}

func (n *netLink) read() ([]byte, error) {
	if n.buf == nil {
		// A datagram must fit in one read or its tail is lost; a stream is read in pieces the
		// tokenizer reassembles, and a smaller buffer keeps 1000 idle modules cheap.
		size := 8 << 10
		if n.udp {
			size = 64 << 10
		}
		n.buf = make([]byte, size)
	}
	for {
		k, err := n.conn.Read(n.buf)
		if err != nil && n.udp && isRefused(err) {
			continue // an ICMP "port unreachable" for an earlier datagram; UDP has no connection to lose
		}
		if k > 0 {
			return append([]byte(nil), n.buf[:k]...), err
		}
		if err != nil {
			return nil, err
		}
	}
}

func (n *netLink) write(ctx context.Context, data []byte) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = n.conn.SetWriteDeadline(dl)
	} else {
		_ = n.conn.SetWriteDeadline(time.Time{})
	}
	_, err := n.conn.Write(data)
	return err
}

func (n *netLink) close() error { return n.conn.Close() }
