package testutil

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Goroutines counts the goroutines of this process whose stack has a frame of fn (a function
// as the runtime names it: "lazyq.(*Queue[...]).consume"). Leak checks use it from tests that
// do not run in parallel, so that other tests' goroutines are not counted.
func Goroutines(fn string) int {
	count := 0
	for _, g := range GoroutineStacks() {
		if strings.Contains(g, fn+"(") {
			count++
		}
	}
	return count
}

// GoroutineStacks is the stack of every goroutine of this process, one string each.
func GoroutineStacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Split(string(buf), "\n\n")
}

// WaitGoroutines waits until exactly want goroutines run fn (see Goroutines), failing t after
// within. A goroutine that has signalled its end may still be returning, hence the wait.
func WaitGoroutines(t testing.TB, within time.Duration, fn string, want int) {
	t.Helper()
	Eventually(t, within, fmt.Sprintf("%d goroutines in %s", want, fn), func() bool { return Goroutines(fn) == want })
}
