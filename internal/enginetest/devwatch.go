package enginetest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// WatchedDriver is a standalone driver repository for `engine dev --watch`, laid out as `engine
// new driver` scaffolds one: its own go.mod requiring the engine (with a replace of it, which
// the builder drops), the engine's go.sum, and the example display driver (examples/drivers/
// display) with one function more, answer(), whose answer SetAnswer changes.
type WatchedDriver struct {
	Dir string // <temp>/mydisplay: the module is Mydisplay_1 in the demo room
	tb  testing.TB
}

const watchedGoMod = `module example.com/mydisplay

go 1.26

require github.com/placeos-go/engine v0.0.0-00010101000000-000000000000

replace github.com/placeos-go/engine => ../engine
`

const watchedAnswerGo = `package main

import "context"

// Answer says which save of the driver runs.
func (d *Display) Answer(context.Context) (string, error) { return %q, nil }
`

// NewWatchedDriver writes the repository, answering first.
func NewWatchedDriver(tb testing.TB, first string) *WatchedDriver {
	tb.Helper()
	root, err := testutil.ModuleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	d := &WatchedDriver{Dir: filepath.Join(tb.TempDir(), "mydisplay"), tb: tb}
	d.Write("go.mod", watchedGoMod)
	for src, dst := range map[string]string{"go.sum": "go.sum",
		"examples/drivers/display/main.go": "main.go", "examples/drivers/display/display.go": "display.go"} {
		b, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			tb.Fatal(err)
		}
		d.Write(dst, string(b))
	}
	d.SetAnswer(first)
	return d
}

// Copy is a copy of the repository in a folder of its own.
func (d *WatchedDriver) Copy() *WatchedDriver {
	d.tb.Helper()
	c := &WatchedDriver{Dir: filepath.Join(d.tb.TempDir(), filepath.Base(d.Dir)), tb: d.tb}
	if err := os.CopyFS(c.Dir, os.DirFS(d.Dir)); err != nil {
		d.tb.Fatal(err)
	}
	return c
}

// SetAnswer saves answer.go so that answer() returns v.
func (d *WatchedDriver) SetAnswer(v string) { d.Write("answer.go", fmt.Sprintf(watchedAnswerGo, v)) }

// Write saves a file of the repository, as an editor would.
func (d *WatchedDriver) Write(name, content string) {
	d.tb.Helper()
	testutil.WriteFile(d.tb, filepath.Join(d.Dir, name), content)
}

// Remove deletes a file of the repository.
func (d *WatchedDriver) Remove(name string) {
	d.tb.Helper()
	if err := os.Remove(filepath.Join(d.Dir, name)); err != nil {
		d.tb.Fatal(err)
	}
}

// StartDevWatch starts `engine dev --watch` on d with the demo room's simulated displays left
// out, and waits until the watched module answers answer() with first. Its module is named
// Mydisplay_1.
func StartDevWatch(tb testing.TB, cfg Config, d *WatchedDriver, first string, flags ...string) *Node {
	tb.Helper()
	root, err := testutil.ModuleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Command = "dev"
	n := NewNode(tb, cfg, "dev")
	n.Raft = "127.0.0.1:0"
	n.Start(append([]string{"--sdk-dir", root, "--displays", "0", "--watch", d.Dir}, flags...)...)
	n.Eventually(3*time.Minute, "the watched driver answering "+first, func() bool { return n.WatchedAnswer() == first })
	return n
}

// watchedAnswer is the path of the watched module's answer() in the demo room.
const watchedAnswer = "/api/engine/v2/systems/sys-demo/Mydisplay_1/answer"

// WatchedAnswer calls the watched module's answer() once: the answer, or what came back instead.
func (n *Node) WatchedAnswer() string {
	r, err := n.Try("POST", watchedAnswer, "[]")
	switch {
	case err != nil:
		return err.Error()
	case r.Status != 200:
		return fmt.Sprintf("HTTP %d %s", r.Status, r.Body)
	}
	return strings.Trim(r.Body, `"`)
}

// SaveToAnswer saves answer.go answering v and returns how long the engine took to answer v.
func SaveToAnswer(tb testing.TB, n *Node, d *WatchedDriver, v string) time.Duration {
	tb.Helper()
	saved := time.Now()
	d.SetAnswer(v)
	n.Eventually(time.Minute, "the new build answering "+v, func() bool { return n.WatchedAnswer() == v })
	return time.Since(saved)
}

// Median of durations.
func Median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// CallLoop calls the watched module's answer() in a loop until Stop, counting the answers ok
// rejects: a move to a new build must not fail a single call.
type CallLoop struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	calls    int
	failures []string
}

// StartCallLoop starts the loop; it is stopped when the test ends, at the latest. ok is called
// from the loop's one goroutine, in the order of the answers.
func StartCallLoop(tb testing.TB, n *Node, ok func(answer string) bool) *CallLoop {
	l := &CallLoop{stop: make(chan struct{})}
	l.wg.Go(func() {
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			a := n.WatchedAnswer()
			l.mu.Lock()
			l.calls++
			if !ok(a) {
				l.failures = append(l.failures, a)
			}
			l.mu.Unlock()
		}
	})
	tb.Cleanup(func() { l.Stop() })
	return l
}

// Stop ends the loop and returns how many calls it made and the answers ok rejected.
func (l *CallLoop) Stop() (calls int, failures []string) {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls, l.failures
}
