package state

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/internal/lazyq"
)

// The node has one pub/sub connection. Listeners register in entries (one per channel or
// pattern, ref-counted); a syncer goroutine turns entry changes into SUBSCRIBE/UNSUBSCRIBE so
// neither Subscribe, Cancel nor the reader ever waits on Redis; the reader goroutine receives
// messages and copies each into the bounded queue of every listener of its entry, never blocking.
//
// A listener's queue and goroutine exist only while it has messages (internal/lazyq): a node
// listens to tens of thousands of status channels, most of them quiet, and a 256-slot channel and
// a parked goroutine each cost about 14 KiB a listener for nothing.

// listenerLinger is how long a listener's goroutine waits for the next message before it ends: a
// channel that changes more often than this keeps one goroutine instead of starting one per
// message.
const listenerLinger = time.Second

// entry is one channel or pattern with its listeners.
type entry struct {
	name     string
	pattern  bool
	internal bool // the Store's own invalidation channels: always subscribed
	subs     map[*Subscription]struct{}
	sent     bool          // we asked go-redis to subscribe (it resubscribes by itself on reconnect)
	conf     bool          // Redis confirmed the subscription on the current connection
	ready    chan struct{} // closed when conf becomes true
}

func newEntry(name string, pattern, internal bool) *entry {
	return &entry{name: name, pattern: pattern, internal: internal,
		subs: map[*Subscription]struct{}{}, ready: make(chan struct{})}
}

func (e *entry) wanted() bool { return e.internal || len(e.subs) > 0 }

func (e *entry) key() string { return entryKey(e.pattern, e.name) }

func entryKey(pattern bool, name string) string {
	if pattern {
		return "p:" + name
	}
	return "c:" + name
}

type delivery struct {
	channel string
	msg     []byte
}

// Subscription is one listener on a channel or pattern. Its callback runs on the listener's own
// goroutine (started when a message arrives, ended after a quiet second or two), in message
// order; it may block briefly, but while it does the listener's queue fills, and a full queue
// gets the listener dropped (Err() == ErrSlowListener, OnDrop called).
type Subscription struct {
	s      *Store
	e      *entry
	fn     func(channel string, msg []byte)
	onDrop func(error)
	queue  lazyq.Queue[delivery]
	done   chan struct{}
	once   sync.Once
	err    error // set before done is closed
}

// SubOption tunes one subscription.
type SubOption func(*subConfig)

type subConfig struct {
	queueSize int
	onDrop    func(error)
}

// WithQueueSize overrides Options.QueueSize for one listener.
func WithQueueSize(n int) SubOption {
	return func(c *subConfig) {
		if n > 0 {
			c.queueSize = n
		}
	}
}

// WithOnDrop is called (on the listener's goroutine) when the Store removes the listener:
// ErrSlowListener after a queue overflow, ErrClosed when the Store closes. It is not called
// after Cancel.
func WithOnDrop(fn func(err error)) SubOption { return func(c *subConfig) { c.onDrop = fn } }

// Subscribe listens on a channel. fn receives each message's payload; the slice is shared by
// every listener of the message and must not be modified. Listeners of the same channel share
// one Redis SUBSCRIBE. Subscribe does not wait for Redis: call Wait before reading a value that
// must not miss a later change (subscribe, Wait, then read).
func (s *Store) Subscribe(channel string, fn func(msg []byte), opts ...SubOption) *Subscription {
	return s.subscribe(channel, false, func(_ string, msg []byte) { fn(msg) }, opts)
}

// PSubscribe listens on a glob pattern (Redis PSUBSCRIBE); fn receives the actual channel too.
func (s *Store) PSubscribe(pattern string, fn func(channel string, msg []byte), opts ...SubOption) *Subscription {
	return s.subscribe(pattern, true, fn, opts)
}

func (s *Store) subscribe(name string, pattern bool, fn func(string, []byte), opts []SubOption) *Subscription {
	cfg := subConfig{queueSize: s.opts.QueueSize}
	for _, o := range opts {
		o(&cfg)
	}
	sub := &Subscription{s: s, fn: fn, onDrop: cfg.onDrop, done: make(chan struct{})}
	sub.queue.Init(lazyq.Config[delivery]{Limit: cfg.queueSize, Linger: listenerLinger, Handle: sub.handle, WG: &s.lwg})

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		sub.e = newEntry(name, pattern, false)
		sub.onDrop = nil // the listener never started: it is told by Err, not OnDrop
		sub.stop(ErrClosed)
		return sub
	}
	m := s.channels
	if pattern {
		m = s.patterns
	}
	e := m[name]
	if e == nil {
		e = newEntry(name, pattern, false)
		m[name] = e
	}
	e.subs[sub] = struct{}{}
	sub.e = e
	needSync := !e.sent
	if needSync {
		s.dirty[e] = struct{}{}
	}
	s.mu.Unlock()

	if needSync {
		s.kickSync()
	}
	return sub
}

// handle runs the callback for one message, on the listener's goroutine.
func (sub *Subscription) handle(d delivery) {
	if !sub.isDone() { // removed meanwhile: deliver nothing more
		sub.fn(d.channel, d.msg)
	}
}

// stop removes the listener's queue; a drop (err set) tells OnDrop, on the listener's goroutine
// once any callback in progress has returned.
func (sub *Subscription) stop(err error) {
	sub.once.Do(func() {
		sub.err = err
		close(sub.done)
		var final func()
		if err != nil && sub.onDrop != nil {
			final = func() { sub.onDrop(err) }
		}
		sub.queue.Stop(final)
	})
}

// Cancel removes the listener. It does not wait for a callback in progress, so it may be called
// from the callback itself; no callback starts after Cancel returns.
func (sub *Subscription) Cancel() { sub.s.remove(sub, nil) }

// Done is closed when the listener has been removed (Cancel, overflow or Close).
func (sub *Subscription) Done() <-chan struct{} { return sub.done }

func (sub *Subscription) isDone() bool {
	select {
	case <-sub.done:
		return true
	default:
		return false
	}
}

// Err tells why the listener was removed: nil after Cancel (or while active), ErrSlowListener or
// ErrClosed.
func (sub *Subscription) Err() error {
	select {
	case <-sub.done:
		return sub.err
	default:
		return nil
	}
}

// Wait returns once Redis has confirmed the subscription on the current connection, so any
// message published from then on will be delivered. If Redis is down the listener stays
// registered and is re-established when Redis is back (see OnReconnect); Wait then fails with
// the context's error wrapped in ErrUnavailable/ErrTimeout.
func (sub *Subscription) Wait(ctx context.Context) error {
	sub.s.mu.RLock()
	ready := sub.e.ready
	sub.s.mu.RUnlock()
	select {
	case <-ready:
		if sub.Err() == nil && !sub.isDone() {
			return nil
		}
		if err := sub.Err(); err != nil {
			return err
		}
		return ErrCancelled
	case <-sub.done:
		if sub.err != nil {
			return sub.err
		}
		return ErrCancelled
	case <-ctx.Done():
		return redisErr("state: subscription to "+sub.e.name+" not confirmed by redis", ctx.Err())
	}
}

func (s *Store) remove(sub *Subscription, err error) {
	s.mu.Lock()
	e := sub.e
	_, ok := e.subs[sub]
	if ok {
		delete(e.subs, sub)
	}
	needSync := ok && !e.wanted()
	if needSync {
		s.dirty[e] = struct{}{}
	}
	s.mu.Unlock()
	sub.stop(err)
	if needSync {
		s.kickSync()
	}
}

// reconnectListener receives coalesced "pub/sub is back" signals on its own goroutine.
type reconnectListener struct {
	fn   func()
	sig  chan struct{}
	done chan struct{}
	once sync.Once
}

func (l *reconnectListener) run(wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-l.sig:
			select {
			case <-l.done:
				return
			default:
				l.fn()
			}
		case <-l.done:
			return
		}
	}
}

func (l *reconnectListener) signal() {
	select {
	case l.sig <- struct{}{}:
	default: // one pending signal is enough: the listener re-reads everything anyway
	}
}

func (l *reconnectListener) stop() { l.once.Do(func() { close(l.done) }) }

// OnReconnect calls fn (on its own goroutine) each time the pub/sub connection is back after a
// loss and every subscription has been confirmed again. Messages published while it was down are
// lost, so fn should re-read whatever its listeners track. Caches are already emptied when fn
// runs, and this node's share (Host, OwnSystems) has been written back (or tried once).
func (s *Store) OnReconnect(fn func()) (cancel func()) {
	l := &reconnectListener{fn: fn, sig: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return func() {}
	}
	s.onRecon[l] = struct{}{}
	s.lwg.Add(1)
	s.mu.Unlock()
	go l.run(&s.lwg)
	return func() {
		s.mu.Lock()
		delete(s.onRecon, l)
		s.mu.Unlock()
		l.stop()
	}
}

// Connected reports whether the pub/sub connection is up with every subscription confirmed.
func (s *Store) Connected() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.up
}

func (s *Store) kickSync() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Store) syncLoop() {
	defer s.bg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.kick:
		}
		s.syncOnce()
	}
}

// syncOnce sends the SUBSCRIBE/UNSUBSCRIBE commands that bring Redis in line with the entries.
// go-redis records a channel even when the write fails and resubscribes it after reconnecting,
// so a failed write needs no retry here.
func (s *Store) syncOnce() {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	ps := s.ps.Load()

	var sub, unsub, psub, punsub []string
	s.mu.Lock()
	for e := range s.dirty {
		m := s.channels
		add, del := &sub, &unsub
		if e.pattern {
			m, add, del = s.patterns, &psub, &punsub
		}
		switch w := e.wanted(); {
		case w && !e.sent:
			e.sent = true
			s.pending[e.key()]++
			s.unconfirmed++
			*add = append(*add, e.name)
		case !w && e.sent:
			if !e.conf {
				s.unconfirmed--
			}
			*del = append(*del, e.name)
			fallthrough
		case !w:
			if m[e.name] == e {
				delete(m, e.name)
			}
		}
	}
	clear(s.dirty)
	s.maybeUpLocked()
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	for _, c := range []struct {
		names []string
		call  func(context.Context, ...string) error
		what  string
	}{
		{sub, ps.Subscribe, "subscribe"}, {unsub, ps.Unsubscribe, "unsubscribe"},
		{psub, ps.PSubscribe, "psubscribe"}, {punsub, ps.PUnsubscribe, "punsubscribe"},
	} {
		if len(c.names) == 0 {
			continue // an empty UNSUBSCRIBE would mean "all channels"
		}
		if err := c.call(ctx, c.names...); err != nil && s.ctx.Err() == nil {
			s.mu.Lock()
			s.notUpYetLocked(err)
			s.mu.Unlock()
			s.log.Debug("pub/sub command not written; go-redis repeats it on reconnect",
				"command", c.what, "count", len(c.names), "error", err)
		}
	}
}

func (s *Store) readLoop() {
	defer s.bg.Done()
	backoff := 20 * time.Millisecond
	pingOutstanding := false
	for {
		ps := s.ps.Load()
		msg, err := ps.ReceiveTimeout(s.ctx, s.opts.IdleTimeout)
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if pingOutstanding {
					// A half-open TCP connection never errors: replace the connection ourselves.
					s.log.Warn("redis pub/sub connection silent, replacing it", "idle", s.opts.IdleTimeout*2)
					s.replacePubSub()
					pingOutstanding = false
					continue
				}
				pingOutstanding = ps.Ping(s.ctx) == nil
				continue
			}
			s.lost(err, false)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, s.opts.MaxBackoff)
			continue
		}
		backoff = 20 * time.Millisecond
		pingOutstanding = false
		switch m := msg.(type) {
		case *redis.Subscription:
			s.confirmed(m)
		case *redis.Message:
			s.dispatch(m)
		}
	}
}

// replacePubSub swaps in a fresh pub/sub connection and lets the syncer subscribe everything again.
func (s *Store) replacePubSub() {
	s.syncMu.Lock()
	if s.ctx.Err() != nil { // Close owns the connection now
		s.syncMu.Unlock()
		return
	}
	old := s.ps.Swap(s.client.Subscribe(s.ctx))
	s.lost(errors.New("pub/sub connection replaced"), true)
	s.syncMu.Unlock()
	_ = old.Close()
	s.kickSync()
}

// lost records that the pub/sub connection dropped: confirmations no longer hold and the caches
// cannot be trusted until every subscription is confirmed again. With resend the entries are
// subscribed anew by the syncer (new go-redis PubSub); otherwise go-redis resubscribes them.
func (s *Store) lost(err error, resend bool) {
	s.mu.Lock()
	wasUp := s.up
	s.up = false
	clear(s.pending)
	s.unconfirmed = 0
	for _, m := range []map[string]*entry{s.channels, s.patterns} {
		for _, e := range m {
			if e.conf {
				e.conf = false
				e.ready = make(chan struct{})
			}
			if resend {
				e.sent = false
				s.dirty[e] = struct{}{}
			} else if e.sent {
				s.unconfirmed++
			}
		}
	}
	s.cache.suspend()
	s.notUpYetLocked(err)
	s.mu.Unlock()
	if wasUp {
		s.opts.Metrics.RedisError("pubsub")
		s.log.Warn("redis pub/sub connection lost; cached lookups and metadata still answer until it is back", "error", err)
	} else {
		s.log.Debug("redis pub/sub still unavailable", "error", err)
	}
}

func (s *Store) confirmed(m *redis.Subscription) {
	var pattern bool
	switch m.Kind {
	case "subscribe":
	case "psubscribe":
		pattern = true
	default:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A channel unsubscribed and subscribed again quickly has several SUBSCRIBEs in flight; only
	// the last confirmation proves the current one is active. Count even for a removed entry.
	k := entryKey(pattern, m.Channel)
	if s.pending[k] > 1 {
		s.pending[k]--
		return
	}
	delete(s.pending, k)
	e := s.channels[m.Channel]
	if pattern {
		e = s.patterns[m.Channel]
	}
	if e == nil {
		return
	}
	if e.sent && !e.conf {
		e.conf = true
		close(e.ready)
		s.unconfirmed--
	}
	s.maybeUpLocked()
}

// maybeUpLocked marks the connection up once every sent subscription is confirmed: only then
// may caches be trusted (invalidations arrive) and listeners re-read values (nothing missed).
func (s *Store) maybeUpLocked() {
	if s.up || s.unconfirmed > 0 || !s.channels[LookupChangeChannel].conf || !s.channels[InterfaceChangeChannel].conf {
		return
	}
	s.up = true
	s.cache.reset()
	if s.everUp {
		s.opts.Metrics.RedisReconnect()
		s.log.Info("redis pub/sub connection re-established; caches emptied")
		// The reconnect loop writes this node's share back, then tells the OnReconnect listeners.
		select {
		case s.back <- struct{}{}:
		default: // one pending return is enough: the write-back covers everything
		}
	} else {
		close(s.firstUp)
	}
	s.everUp = true
}

// notUpYetLocked notes why the node's first pub/sub connection failed: the first reason is
// logged at WARN at once (a node waiting on Redis says why; after the first connection a loss is
// the WARN of lost), the last one is what New's error names.
func (s *Store) notUpYetLocked(err error) {
	if s.everUp || err == nil {
		return
	}
	if s.startErr == nil {
		s.log.Warn("redis answered, but the pub/sub connection the node needs cannot be established; retrying until it is (the start fails after "+s.opts.StartTimeout.String()+")",
			"error", err)
	}
	s.startErr = err
}

// waitUp waits for the first pub/sub connection, at most Options.StartTimeout.
func (s *Store) waitUp(ctx context.Context) error {
	timer := time.NewTimer(s.opts.StartTimeout)
	defer timer.Stop()
	var err error
	select {
	case <-s.firstUp:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = fmt.Errorf("not up within %s: %w", s.opts.StartTimeout, context.DeadlineExceeded)
	}
	s.mu.RLock()
	why := s.startErr
	s.mu.RUnlock()
	if why != nil {
		err = fmt.Errorf("%w (last error: %w)", err, withRefusal(context.Background(), s.client, why))
	}
	return redisErr("state: pub/sub connection not established", err)
}

func (s *Store) dispatch(m *redis.Message) {
	// Invalidate before fanning out, so a listener of lookup-change that re-resolves sees the
	// new lookup.
	if m.Pattern == "" {
		switch m.Channel {
		case LookupChangeChannel:
			s.cache.invalidateSystem(m.Payload)
		case InterfaceChangeChannel:
			s.cache.invalidateMetadata(m.Payload)
		}
	}
	d := delivery{channel: m.Channel, msg: []byte(m.Payload)}
	var slow []*Subscription
	s.mu.RLock()
	e := s.channels[m.Channel]
	if m.Pattern != "" {
		e = s.patterns[m.Pattern]
	}
	if e != nil {
		for sub := range e.subs {
			if !sub.queue.Push(d) {
				slow = append(slow, sub)
			}
		}
	}
	s.mu.RUnlock()
	for _, sub := range slow {
		s.log.Warn("dropping slow pub/sub listener", "channel", m.Channel, "queue", sub.queue.Limit())
		s.remove(sub, ErrSlowListener)
	}
}

// String helps debugging: which channels and patterns are subscribed.
func (s *Store) String() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fmt.Sprintf("state.Store{channels: %d, patterns: %d, up: %v}", len(s.channels), len(s.patterns), s.up)
}
