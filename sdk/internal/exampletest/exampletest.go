package exampletest

import (
	"fmt"
	"sync"
	"testing"
)

// T is the stand-in: a failure panics with its message (an example has no test to fail), log
// lines are dropped (an example's output is what it prints), and cleanups run at Done.
type T struct {
	// testing.TB's other methods are not implemented: calling one panics. Embedding the
	// interface is the only way to satisfy it outside package testing.
	testing.TB

	mu       sync.Mutex
	cleanups []func()
}

// New returns a stand-in; defer its Done.
func New() *T { return &T{} }

// Done runs the cleanups, last registered first, as a test's end does.
func (t *T) Done() {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

func (t *T) Helper()             {}
func (t *T) Log(...any)          {}
func (t *T) Logf(string, ...any) {}

func (t *T) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *T) Error(args ...any)                 { panic(fmt.Sprint(args...)) }
func (t *T) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *T) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (t *T) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
