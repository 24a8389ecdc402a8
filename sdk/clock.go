package sdk

import "time"

// Clock is the time source of a module's command queue, transport reconnect backoff and
// scheduler. Production drivers use the wall clock; sdktest passes a virtual clock (through
// WithClock) so tests drive timeouts, retries and schedules without sleeping.
//
// Code that arms a timer must do so before the event a test can observe (a byte on the wire, a
// completed command), so that a test which saw the event and then advances the clock always
// finds the timer in place.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (wall clock) or inside Advance (virtual clock) once d
	// has passed. f must not block.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop prevents the call; false means it has already run or been stopped.
	Stop() bool
}

// WallClock is the real time.
type WallClock struct{}

// Now is time.Now.
func (WallClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (WallClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// WithClock replaces the wall clock of every module of the runtime (sdktest's virtual clock).
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// Clock is the module's time source; use it instead of the time package for anything a test
// should control (timeouts, polling intervals).
func (b *Base) Clock() Clock {
	if b.m == nil {
		return WallClock{}
	}
	return b.m.rt.clock()
}

// sleep waits d on c, or until wake closes (nil: never), returning false when done closes first.
func sleep(c Clock, d time.Duration, done, wake <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	ch := make(chan struct{})
	t := c.AfterFunc(d, func() { close(ch) })
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-wake:
		return true
	case <-done:
		return false
	}
}
