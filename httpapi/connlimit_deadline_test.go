package httpapi

import (
	"net"
	"testing"
	"time"
)

// deadlineConn records the write deadlines set on it.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error { c.set = append(c.set, t); return nil }
func (c *deadlineConn) SetDeadline(t time.Time) error      { c.set = append(c.set, t); return nil }

// A write deadline less than a second later than the one in force is not set (each set is a
// timer update; every response and WebSocket message asks for one); any other change is.
func TestWriteDeadlineMovesInSteps(t *testing.T) {
	t.Parallel()
	dc := &deadlineConn{}
	c := &limitedConn{Conn: dc}
	t0 := time.Now().Add(2 * time.Minute)
	steps := []struct {
		at   time.Time
		full bool // SetDeadline rather than SetWriteDeadline
		set  bool
	}{
		{t0, false, true},
		{t0.Add(500 * time.Millisecond), false, false}, // a moment later: the one in force will do
		{t0.Add(999 * time.Millisecond), false, false},
		{t0.Add(1500 * time.Millisecond), false, true}, // a second on: moved
		{t0, false, true},                          // earlier: always
		{time.Time{}, false, true},                 // none: always
		{t0, false, true},                          // after none: always
		{time.Now().Add(-time.Second), true, true}, // SetDeadline in the past (an abort)
		{t0, false, true},                          // then a new deadline is set, not skipped
	}
	for i, s := range steps {
		n := len(dc.set)
		if s.full {
			_ = c.SetDeadline(s.at)
		} else {
			_ = c.SetWriteDeadline(s.at)
		}
		if got := len(dc.set) > n; got != s.set {
			t.Fatalf("step %d (%v): set %v, want %v", i, s.at, got, s.set)
		}
	}
}
