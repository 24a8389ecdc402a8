package subscriptions

import (
	"errors"
	"sync"

	"github.com/placeos-go/engine/state"
)

// channel is one status channel (status/<module>/<name>) and the watches attached to it. They
// share one state.Subscription: a status bound by a thousand sessions costs one listener goroutine
// and queue, and a change reaches every session from that one goroutine instead of a thousand
// wake-ups. The first watch to attach creates the channel and the last to leave cancels it.
//
// Lock order: watch.mu, then Manager.chMu, then channel.mu. The subscription's callback takes
// channel.mu only to copy the list and calls the watches after releasing it, so a watch that holds
// its own lock while it attaches or leaves never waits on a delivery in progress.
type channel struct {
	m    *Manager
	name string
	sub  *state.Subscription // set before the channel is published in Manager.channels

	mu   sync.Mutex
	list []attachment // the attached watches, in no particular order (swap-remove)
	// dead: removed from Manager.channels (emptied, or dropped by state); list is frozen.
	dead bool

	scratch []attachment // the callback's copy of list; used on the subscription's goroutine only
}

// attachment is a watch attached to a channel; agen is the watch's attach generation then, so a
// delivery that races with the watch moving elsewhere is recognised and dropped by onMessage.
type attachment struct {
	w    *watch
	agen uint64
}

// join attaches w (at its current agen) to the channel of name, creating the channel and its
// subscription if w is the first. w.mu is held.
func (m *Manager) join(w *watch, name string) *channel {
	m.chMu.Lock()
	defer m.chMu.Unlock()
	ch := m.channels[name]
	if ch == nil {
		ch = &channel{m: m, name: name}
		ch.sub = m.store.Subscribe(name, ch.deliver, state.WithOnDrop(ch.dropped))
		m.channels[name] = ch
	}
	ch.mu.Lock()
	w.chIdx = len(ch.list)
	ch.list = append(ch.list, attachment{w: w, agen: w.agen})
	ch.mu.Unlock()
	return ch
}

// leave detaches w from ch; the last watch to leave cancels the subscription. w.mu is held.
// A dead channel is left alone: its list no longer matters and the indexes in it may be stale.
func (m *Manager) leave(w *watch, ch *channel) {
	m.chMu.Lock()
	ch.mu.Lock()
	if ch.dead {
		ch.mu.Unlock()
		m.chMu.Unlock()
		return
	}
	i, last := w.chIdx, len(ch.list)-1
	ch.list[i] = ch.list[last]
	ch.list[i].w.chIdx = i
	ch.list[last] = attachment{}
	ch.list = ch.list[:last]
	empty := last == 0
	if empty {
		ch.dead = true
		delete(m.channels, ch.name)
	}
	ch.mu.Unlock()
	m.chMu.Unlock()
	if empty {
		ch.sub.Cancel()
	}
}

// deliver hands a message to every attached watch, on the subscription's goroutine. onMessage
// only appends to a watch's held-back list or calls its fn, which must only enqueue, so the whole
// fan-out stays short and the queue does not fill.
func (ch *channel) deliver(msg []byte) {
	ch.mu.Lock()
	ch.scratch = append(ch.scratch[:0], ch.list...)
	ch.mu.Unlock()
	for _, a := range ch.scratch {
		a.w.onMessage(a.agen, msg)
	}
	clear(ch.scratch) // do not keep closed watches (and their sessions) reachable until the next message
}

// dropped runs when state removes the subscription (its queue overflowed). Messages were lost, so
// every watch still attached is detached and refreshed: the first to get there creates a new
// channel, the others join it, and each re-reads its value (delivering it only if it changed).
func (ch *channel) dropped(err error) {
	if errors.Is(err, state.ErrClosed) {
		return
	}
	m := ch.m
	m.chMu.Lock()
	if m.channels[ch.name] == ch {
		delete(m.channels, ch.name)
	}
	ch.mu.Lock()
	ch.dead = true
	list := ch.list
	ch.mu.Unlock()
	m.chMu.Unlock()
	m.log.Warn("status listener dropped; subscribing again", "channel", ch.name, "watches", len(list), "error", err)

	again := make(map[*watch]struct{}, len(list))
	for _, a := range list {
		w := a.w
		w.mu.Lock()
		if w.ch == ch && w.agen == a.agen {
			w.ch = nil // refresh sees "attached to its module without a channel" and attaches again
			again[w] = struct{}{}
		}
		w.mu.Unlock()
	}
	if len(again) > 0 {
		m.refreshAll(func(w *watch) bool { _, ok := again[w]; return ok }, true)
	}
}

// channelWatches reports how many watches each live channel has (tests check the sharing).
func (m *Manager) channelWatches() map[string]int {
	m.chMu.Lock()
	defer m.chMu.Unlock()
	out := make(map[string]int, len(m.channels))
	for name, ch := range m.channels {
		ch.mu.Lock()
		out[name] = len(ch.list)
		ch.mu.Unlock()
	}
	return out
}
