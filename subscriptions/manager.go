package subscriptions

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/state"
)

// ErrClosed is returned by Watch* after Close.
var ErrClosed = errkind.New(errkind.Unavailable, "subscription manager closed")

// nullValue is what a deleted status publishes, and what a watch delivers when a status it had
// delivered disappeared while Redis was unreachable.
var nullValue = []byte("null")

// Store is the part of package state a Manager needs: the node's one pub/sub connection and the
// reads that follow a change.
type Store interface {
	// Subscribe listens on a channel through the node's single pub/sub connection.
	Subscribe(channel string, fn func(msg []byte), opts ...state.SubOption) *state.Subscription
	// OnReconnect calls fn after every Redis reconnect, once subscriptions are back.
	OnReconnect(fn func()) (cancel func())
	ResolveModule(ctx context.Context, systemID, name string, index int) (string, error)
	StatusValue(ctx context.Context, moduleID, name string) ([]byte, bool, error)
}

// Manager owns every status watch of this node, for WebSocket sessions and drivers alike. It is
// safe for concurrent use.
type Manager struct {
	store Store
	log   hclog.Logger

	ctx    context.Context // cancelled by Close: ends every refresh
	cancel context.CancelFunc
	wg     sync.WaitGroup // refresh goroutines

	mu       sync.Mutex
	closed   bool
	watches  map[*watch]struct{}
	bySystem map[string]map[*watch]struct{}

	lookups     *state.Subscription
	reconCancel func()

	chMu     sync.Mutex          // guards channels (see channel for the lock order)
	channels map[string]*channel // live status channels by name, each shared by its watches
}

// New starts a Manager on store: it listens to lookup-change and to reconnects right away.
func New(store Store, logger hclog.Logger) *Manager {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	m := &Manager{
		store:    store,
		log:      logger.Named("subscriptions"),
		watches:  map[*watch]struct{}{},
		bySystem: map[string]map[*watch]struct{}{},
		channels: map[string]*channel{},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.subscribeLookups()
	m.reconCancel = store.OnReconnect(func() {
		m.log.Info("redis is back: re-reading every watched status", "watches", m.Count())
		m.refreshAll(func(*watch) bool { return true }, true)
	})
	return m
}

// subscribeLookups listens to lookup-change. The state store invalidates its lookup cache before
// fanning the message out, so a re-resolve started from here sees the new lookup.
func (m *Manager) subscribeLookups() {
	m.lookups = m.store.Subscribe(state.LookupChangeChannel, func(msg []byte) {
		sys := string(msg)
		m.refreshAll(func(w *watch) bool { return w.sys == sys }, false)
	}, state.WithQueueSize(4096), state.WithOnDrop(func(err error) {
		if errors.Is(err, state.ErrClosed) {
			return
		}
		// Lost lookup changes cannot be known: listen again and re-resolve everything.
		m.log.Warn("lookup-change listener dropped; re-resolving every system watch", "error", err)
		m.mu.Lock()
		closed := m.closed
		m.mu.Unlock()
		if !closed {
			m.subscribeLookups()
			m.refreshAll(func(w *watch) bool { return w.sys != "" }, false)
		}
	}))
}

// WatchModule calls fn with the current value of status name of moduleID (if it is set) and then
// with every change (value "null" when it is deleted), with no gap between the two. It returns
// at once; values arrive on another goroutine. fn calls are serial; fn must not block (enqueue
// and return) and must not call cancel. No fn call starts after cancel returns.
func (m *Manager) WatchModule(ctx context.Context, moduleID, name string, fn func(value []byte)) (cancel func(), err error) {
	return m.watch(&watch{direct: moduleID, name: name, fn: fn})
}

// WatchSystem is WatchModule for the module a system names (module name + 1-based index). A
// module not (yet) in the system is not an error: delivery starts when a lookup-change maps it.
// When the mapping changes the watch follows the place: the new module's value if it differs
// (null if it has none), and null when the place empties.
func (m *Manager) WatchSystem(ctx context.Context, systemID, module string, index int, name string, fn func(value []byte)) (cancel func(), err error) {
	if index < 1 {
		index = 1
	}
	return m.watch(&watch{sys: systemID, mod: module, index: index, name: name, fn: fn})
}

func (m *Manager) watch(w *watch) (func(), error) {
	w.m = m
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	w.ctx, w.cancelCtx = context.WithCancel(m.ctx)
	m.watches[w] = struct{}{}
	if w.sys != "" {
		set := m.bySystem[w.sys]
		if set == nil {
			set = map[*watch]struct{}{}
			m.bySystem[w.sys] = set
		}
		set[w] = struct{}{}
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		w.refresh(false)
	}()
	var once sync.Once
	return func() { once.Do(w.stop) }, nil
}

// Count is the number of live watches (tests check that closed sessions release theirs).
func (m *Manager) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.watches)
}

// refreshAll re-resolves (and with force re-reads) the watches match selects, each on its own
// goroutine so that one slow Redis call does not hold up the others.
func (m *Manager) refreshAll(match func(*watch) bool, force bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for w := range m.watches {
		if !match(w) {
			continue
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			w.refresh(force)
		}()
	}
}

func (m *Manager) forget(w *watch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.watches, w)
	if set := m.bySystem[w.sys]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(m.bySystem, w.sys)
		}
	}
}

// Close cancels every watch and waits for the Manager's goroutines. The state store stays open.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	ws := make([]*watch, 0, len(m.watches))
	for w := range m.watches {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	m.cancel()
	m.lookups.Cancel()
	m.reconCancel()
	for _, w := range ws {
		w.stop()
	}
	m.wg.Wait()
	return nil
}

// watch is one watched status.
type watch struct {
	m      *Manager
	direct string // module id of a direct watch
	sys    string // indirect: system, module name and index
	mod    string
	index  int
	name   string
	fn     func([]byte)

	ctx       context.Context
	cancelCtx context.CancelFunc

	// opMu serialises refreshes: each resolves the latest mapping, so whatever order they run in,
	// the last one leaves the watch attached to the current module.
	opMu sync.Mutex

	mu       sync.Mutex // guards the fields below and every fn call
	closed   bool
	moduleID string
	ch       *channel // the shared channel of moduleID's status; nil when detached or dropped
	chIdx    int      // position in ch.list, guarded by ch.mu
	agen     uint64   // bumped per attach: messages of a previous module's channel drop out
	gen      uint64   // bumped per attach and per re-read: a stale read drops out
	syncing  bool     // a read is under way: messages wait in pending
	pending  [][]byte
	hasLast  bool
	last     []byte
}

func (w *watch) stop() {
	w.cancelCtx()
	w.mu.Lock()
	w.closed = true
	if w.ch != nil {
		w.m.leave(w, w.ch)
		w.ch = nil
	}
	w.pending = nil
	w.mu.Unlock()
	w.m.forget(w)
}

func (w *watch) logger() hclog.Logger {
	l := w.m.log.With("status", w.name)
	if w.sys != "" {
		return l.With("system", w.sys, "module_name", w.mod, "index", w.index)
	}
	return l.With("module", w.direct)
}

// refresh brings the watch in line with Redis: resolve the module, move the subscription if the
// module changed, and (when it moved, or with force) read the current value without a gap.
func (w *watch) refresh(force bool) {
	w.opMu.Lock()
	defer w.opMu.Unlock()
	if w.ctx.Err() != nil {
		return
	}
	id := w.direct
	if w.sys != "" {
		var err error
		id, err = w.m.store.ResolveModule(w.ctx, w.sys, w.mod, w.index)
		switch {
		case errors.Is(err, errkind.NotFound):
			id = ""
		case err != nil:
			// Redis is unreachable; the reconnect refresh will resolve again.
			if w.ctx.Err() == nil {
				w.logger().Debug("cannot resolve watched module yet", "error", err)
			}
			return
		}
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	moved := id != w.moduleID || (id != "" && w.ch == nil)
	if !moved && !force {
		w.mu.Unlock()
		return
	}
	if moved {
		w.attachLocked(id)
	}
	if id == "" {
		// A lookup-change that empties the place takes its value away. After a reconnect (force)
		// a missing lookup means Redis lost it, and the system's owner writes it again: the
		// watch waits for that rather than announce a removal that did not happen.
		switch {
		case moved && force:
			w.hasLast, w.last = false, nil // start afresh when the lookup is back
		case moved && w.hasLast:
			w.deliverLocked(nullValue)
		}
		w.mu.Unlock()
		return
	}
	w.gen++
	gen, sub := w.gen, w.ch.sub
	w.syncing, w.pending = true, nil
	w.mu.Unlock()

	// Subscribe is confirmed before the read, so every change after the read is delivered. (A
	// channel shared with earlier watches is usually confirmed already.)
	if err := sub.Wait(w.ctx); err != nil {
		if w.ctx.Err() == nil {
			// Redis is down (the reconnect refresh reads again) or the channel was dropped (its
			// drop handler refreshes every watch attached).
			w.logger().Debug("subscription not confirmed; waiting for it to be re-established", "error", err)
		}
		return
	}
	// A change published just before the read may still be on its way over the pub/sub
	// connection when the read returns. While the held-back changes and the value read do not
	// line up, read again: the missing echo arrives meanwhile (or a newer value is read).
	for attempt := 0; ; attempt++ {
		val, found, err := w.m.store.StatusValue(w.ctx, id, w.name)
		if err != nil {
			if w.ctx.Err() == nil {
				w.logger().Debug("cannot read watched status; waiting for redis to come back", "error", err)
			}
			return
		}
		if w.finish(gen, val, found, attempt >= maxReadAttempts) {
			return
		}
		select {
		case <-w.ctx.Done():
			return
		case <-time.After(time.Duration(attempt+1) * time.Millisecond):
		}
	}
}

// maxReadAttempts bounds the re-reads of refresh; past it the held-back changes are delivered
// after the value read, which still ends on the stored value.
const maxReadAttempts = 20

// attachLocked moves the watch to the channel of module id ("" detaches). The watch follows the
// value at its place, whichever module fills it: the value last delivered is kept across a move,
// so the re-read that follows delivers the new module's value only if it differs (null if the new
// module has none), and a place that empties delivers null.
func (w *watch) attachLocked(id string) {
	if w.ch != nil {
		w.m.leave(w, w.ch)
		w.ch = nil
	}
	w.moduleID = id
	w.syncing, w.pending = false, nil
	w.gen++
	w.agen++
	if id == "" {
		return
	}
	w.ch = w.m.join(w, state.StatusChannel(id, w.name))
}

// onMessage handles a published change, on the goroutine of the channel's shared subscription,
// so it must never block. agen ties it to the attachment it came from: after a move, stragglers of
// the old module's channel are dropped.
func (w *watch) onMessage(agen uint64, msg []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || agen != w.agen {
		return
	}
	if w.syncing {
		w.pending = append(w.pending, msg)
		return
	}
	w.deliverLocked(msg)
}

// finish delivers the value read and then the changes held back while reading, and reports
// whether it did. Held-back changes up to the last one equal to the value read were published
// before the read (the read reflects them), so only those after it are news. When none equals
// it, the value read may be newer than all of them (its own message is still in flight), so
// finish declines unless force is set.
func (w *watch) finish(gen uint64, val []byte, found, force bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || gen != w.gen {
		return true
	}
	cur := val
	if !found {
		cur = nullValue
	}
	rest := w.pending
	matched := len(rest) == 0
	for i := len(rest) - 1; i >= 0; i-- {
		if bytes.Equal(rest[i], cur) {
			rest, matched = rest[i+1:], true
			break
		}
	}
	if !matched && !force {
		return false
	}
	if found || w.hasLast {
		// A status that does not exist is not announced on a first read; one that vanished
		// since the last delivery is (as the null its deletion published would have been).
		w.deliverLocked(cur)
	}
	for _, msg := range rest {
		w.deliverLocked(msg)
	}
	w.syncing, w.pending = false, nil
	return true
}

func (w *watch) deliverLocked(v []byte) {
	if w.hasLast && bytes.Equal(w.last, v) {
		return
	}
	w.hasLast, w.last = true, v
	w.fn(v)
}
