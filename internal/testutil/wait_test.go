package testutil

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 5 {
			n.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	Eventually(t, 5*time.Second, "five increments", func() bool { return n.Load() == 5 })
}

// fatalRecorder is a testing.TB whose Fatalf ends the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func TestEventuallyFailsAfterTheDeadline(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	func() {
		defer func() {
			if r := recover(); r != rec {
				panic(r)
			}
		}()
		Eventually(rec, 20*time.Millisecond, "never", func() bool { return false })
	}()
	if rec.msg != "timed out after 20ms waiting for never" {
		t.Fatalf("message %q", rec.msg)
	}
}

func TestLockedBufferConcurrentWrites(t *testing.T) {
	var b LockedBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x"))
			}
		})
	}
	wg.Wait()
	if len(b.String()) != 800 || b.Tail(3) != "xxx" {
		t.Fatalf("got %d bytes, tail %q", len(b.String()), b.Tail(3))
	}
}
