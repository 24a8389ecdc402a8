package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
)

const (
	// execTimeout is the deadline every load execute asks for with ?timeout=.
	execTimeout = 2 * time.Second
	// execSlack is how late past its deadline an answer may arrive and still count as in time:
	// the engine's own hops and a busy two-core machine's scheduling.
	execSlack = time.Second
	// execWorkersPerNode goroutines execute through each node, pausing execPause between calls.
	execWorkersPerNode = 2
	execPause          = 25 * time.Millisecond
	writeEvery         = 100 * time.Millisecond
	writeTimeout       = 15 * time.Second
	maxExamples        = 8
)

// tally counts one kind of request over a window (one fault).
type tally struct {
	total, ok, excused int
	byStatus           map[int]int
	violations         int
	examples           []string
	maxLatency         time.Duration
}

func (t *tally) violate(format string, args ...any) {
	t.violations++
	if len(t.examples) < maxExamples {
		t.examples = append(t.examples, fmt.Sprintf(format, args...))
	}
}

func (t *tally) status(code int) {
	if t.byStatus == nil {
		t.byStatus = map[int]int{}
	}
	t.byStatus[code]++
}

func (t *tally) errorsByStatus() string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(t.byStatus)) {
		if code != 200 {
			parts = append(parts, fmt.Sprintf("%d:%d", code, t.byStatus[code]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// load is the steady execute, write and bind load of a run.
type load struct {
	c      *cluster
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	exec   tally
	writes tally
	acked  []string // every zone id the engine acknowledged, in order

	sessions []*session
}

// startLoad starts the load; it is stopped (and waited for) when the test ends.
func startLoad(c *cluster) *load {
	l := &load{c: c}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	for _, n := range c.nodes {
		for w := range execWorkersPerNode {
			l.wg.Go(func() { l.execLoop(n, w) })
		}
		s := &session{l: l, n: n, last: map[int]string{}, bound: map[int]bool{}}
		l.sessions = append(l.sessions, s)
		l.wg.Go(s.run)
	}
	l.wg.Go(l.writeLoop)
	c.t.Cleanup(l.stop)
	return l
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// take returns the execute and write tallies since the last take and starts new ones.
func (l *load) take() (exec, writes tally) {
	l.mu.Lock()
	defer l.mu.Unlock()
	exec, writes = l.exec, l.writes
	l.exec, l.writes = tally{}, tally{}
	return exec, writes
}

func (l *load) ackedZones() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

func (l *load) pause(d time.Duration) bool {
	select {
	case <-l.ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// errorBody is the documented JSON error of a client route.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func documentedError(r enginetest.Response) bool {
	if r.Status != http.StatusBadGateway && r.Status != http.StatusServiceUnavailable && r.Status != http.StatusGatewayTimeout {
		return false
	}
	var eb errorBody
	return json.Unmarshal([]byte(r.Body), &eb) == nil && eb.Error != "" && eb.Message != ""
}

// execLoop calls echo([seq]) on the test modules in turn through n, each call with a deadline.
func (l *load) execLoop(n *node, worker int) {
	for seq := worker * 1_000_000; ; seq++ {
		if !l.pause(execPause) {
			return
		}
		if !n.avail.Load() {
			continue
		}
		gen := n.gen.Load()
		slug := fmt.Sprintf("Test_%d", seq%testModules+1)
		path := fmt.Sprintf("/api/engine/v2/systems/%s/%s/echo?timeout=%d", systemID, slug, execTimeout.Milliseconds())
		args := fmt.Sprintf("[%d]", seq)
		start := time.Now()
		// The client waits longer than the deadline, so a late answer is seen and counted.
		resp, err := n.Request(l.ctx, http.MethodPost, path, args, execTimeout+3*time.Second)
		took := time.Since(start)
		if l.ctx.Err() != nil {
			return
		}
		cutOff := n.gen.Load() != gen || !n.avail.Load()
		l.mu.Lock()
		t := &l.exec
		t.total++
		t.maxLatency = max(t.maxLatency, took)
		switch {
		case err != nil && cutOff:
			t.excused++
		case err != nil:
			t.violate("%s via %s: no answer after %s: %v", slug, n.ID, took.Round(time.Millisecond), err)
		default:
			t.status(resp.Status)
			switch {
			case took > execTimeout+execSlack:
				t.violate("%s via %s: answered %d after %s, deadline %s: %s", slug, n.ID, resp.Status, took.Round(time.Millisecond), execTimeout, trim(resp.Body))
			case resp.Status == 200 && enginetest.JSONEqual(resp.Body, args):
				t.ok++
			case resp.Status == 200:
				t.violate("%s via %s: echo(%s) returned %s", slug, n.ID, args, trim(resp.Body))
			case !documentedError(resp):
				t.violate("%s via %s: undocumented answer %d %s", slug, n.ID, resp.Status, trim(resp.Body))
			}
		}
		l.mu.Unlock()
	}
}

// writeLoop PUTs a new zone every writeEvery through the available nodes in turn and records
// the acknowledged ones.
func (l *load) writeLoop() {
	for seq := 1; ; seq++ {
		if !l.pause(writeEvery) {
			return
		}
		var n *node
		for k := range l.c.nodes {
			cand := l.c.nodes[(seq+k)%len(l.c.nodes)]
			if cand.avail.Load() {
				n = cand
				break
			}
		}
		if n == nil {
			continue
		}
		gen := n.gen.Load()
		id := fmt.Sprintf("chaos-z-%05d", seq)
		body := fmt.Sprintf(`{"id": %q, "name": "chaos write %d"}`, id, seq)
		start := time.Now()
		resp, err := n.Request(l.ctx, http.MethodPut, "/api/engine/v2/zones/"+id, body, writeTimeout)
		took := time.Since(start)
		if l.ctx.Err() != nil {
			return
		}
		cutOff := n.gen.Load() != gen || !n.avail.Load()
		l.mu.Lock()
		t := &l.writes
		t.total++
		t.maxLatency = max(t.maxLatency, took)
		switch {
		case err != nil && cutOff:
			t.excused++
		case err != nil:
			t.violate("PUT %s via %s: no answer after %s: %v", id, n.ID, took.Round(time.Millisecond), err)
		case resp.Status == 200 || resp.Status == 202 && strings.Contains(resp.Body, `"id":"`+id+`"`):
			// 202: committed, but the node's own copy (its disk full, say) does not show it yet
			// (docs/protocol.md §9.3): acknowledged all the same, so it must not be lost.
			t.status(resp.Status)
			t.ok++
			l.acked = append(l.acked, id)
		default:
			// A refused write is fine (it was not acknowledged); an undocumented refusal is not.
			t.status(resp.Status)
			var eb errorBody
			if json.Unmarshal([]byte(resp.Body), &eb) != nil || eb.Error == "" || resp.Status < 500 {
				t.violate("PUT %s via %s: %d %s", id, n.ID, resp.Status, trim(resp.Body))
			}
		}
		l.mu.Unlock()
	}
}

func trim(body string) string {
	s := strings.TrimSpace(body)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
