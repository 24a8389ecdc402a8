package enginetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// Eventually is testutil.Eventually that also fails the test at once when the node's engine
// exits without the test stopping or killing it.
func (n *Node) Eventually(within time.Duration, what string, cond func() bool) {
	n.tb.Helper()
	testutil.Eventually(n.tb, within, what, func() bool {
		n.tb.Helper()
		n.mustRun(what)
		return cond()
	})
}

// Eventually is testutil.Eventually that also fails the test at once when an engine of the
// cluster exits without the test stopping or killing it.
func (c *Cluster) Eventually(within time.Duration, what string, cond func() bool) {
	c.tb.Helper()
	testutil.Eventually(c.tb, within, what, func() bool {
		c.tb.Helper()
		for _, n := range c.Nodes {
			n.mustRun(what)
		}
		return cond()
	})
}

func (n *Node) mustRun(what string) {
	n.tb.Helper()
	if state, ok := n.exitedOnItsOwn(); ok {
		n.tb.Fatalf("%s exited (%s) while waiting for %s", n.ID, state, what)
	}
}

// Within is testutil.Eventually for a wait whose timeout is a finding rather than the end of the
// test (the chaos suite records it and goes on): it returns the timeout as an error instead of
// failing tb. cond may still fail tb itself.
func Within(tb testing.TB, within time.Duration, what string, cond func() bool) (err error) {
	tb.Helper()
	r := &timeoutRecorder{TB: tb}
	defer func() {
		if p := recover(); p != nil {
			if p != r {
				panic(p)
			}
			err = r.err
		}
	}()
	testutil.Eventually(r, within, what, cond)
	return nil
}

// timeoutRecorder turns testutil.Eventually's Fatalf into a panic Within recovers from.
type timeoutRecorder struct {
	testing.TB
	err error
}

func (r *timeoutRecorder) Fatalf(format string, args ...any) {
	r.err = fmt.Errorf(format, args...)
	panic(r)
}

// WaitLog waits until the node's log holds text. A line the engine wrote reaches the test through
// a pipe, after whatever it logged about; never check the log once.
func (n *Node) WaitLog(within time.Duration, text string) {
	n.tb.Helper()
	n.Eventually(within, fmt.Sprintf("%q in %s's log", text, n.ID), func() bool {
		return strings.Contains(n.Logs().String(), text)
	})
}
