package calltab

import "sync"

// Table is the calls waiting on one connection, answered with values of type T. Its zero value
// is an empty table, open for calls.
type Table[T any] struct {
	mu    sync.Mutex
	calls map[uint64]chan T
	made  uint64 // the last id given, and so the number of calls made
	ended error  // why the table ended; no call is added after
}

// Add registers a call answered on ch (buffered, so the reader never waits on a caller) and
// returns its id, or the cause the table ended with.
func (t *Table[T]) Add(ch chan T) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended != nil {
		return 0, t.ended
	}
	if t.calls == nil {
		t.calls = map[uint64]chan T{}
	}
	t.made++
	t.calls[t.made] = ch
	return t.made, nil
}

// Remove forgets call id, for a caller that gives up. It reports whether the call was still
// waiting: false means the reader has taken it, and its answer is on its way.
func (t *Table[T]) Remove(id uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.calls[id]
	delete(t.calls, id)
	return ok
}

// Has reports whether call id still waits for its answer (an answer that comes in parts is
// gathered only for a call whose caller has not given up).
func (t *Table[T]) Has(id uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.calls[id]
	return ok
}

// Take removes call id and returns the channel for its answer; nil when no call waits under id
// (its caller gave up, or the peer answered an id never given).
func (t *Table[T]) Take(id uint64) chan T {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch := t.calls[id]
	delete(t.calls, id)
	return ch
}

// End ends the table with cause and returns the calls that were waiting, for the caller to fail.
// It does nothing and reports false when the table has ended already, or, with onlyIdle, when
// calls are waiting.
func (t *Table[T]) End(cause error, onlyIdle bool) (map[uint64]chan T, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended != nil || (onlyIdle && len(t.calls) > 0) {
		return nil, false
	}
	t.ended = cause
	calls := t.calls
	t.calls = nil
	return calls, true
}

// Counts reports how many calls wait and how many were ever added.
func (t *Table[T]) Counts() (waiting int, made uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.calls), t.made
}
