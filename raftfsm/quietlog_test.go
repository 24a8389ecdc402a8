package raftfsm

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestQuietLoggerHoldsBackRepeatsAboutAPeer: raft's repeated errors about one peer are written
// once per quietEvery with the count left out; other peers, other messages and lines naming no
// peer all pass.
func TestQuietLoggerHoldsBackRepeatsAboutAPeer(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := newQuietLogger(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace})).Named("raft")
	q := l.(quietLogger).q
	now := time.Unix(1000, 0)
	q.now = func() time.Time { return now }
	down := raft.Server{ID: "node-2", Address: "127.0.0.1:7002"}
	for range 50 {
		l.Error("failed to appendEntries to", "peer", down, "error", "connection refused")
		l.Error("failed to heartbeat to", "peer", raft.ServerAddress("127.0.0.1:7002"), "error", "connection refused")
		l.Warn("failed to contact", "server-id", raft.ServerID("node-2"), "time", time.Second)
		// A node campaigning while the others refuse it (removed while it was down, or cut off)
		// names the peer it asked as target.
		l.Error("failed to make requestVote RPC", "target", down, "error", "EOF", "term", 3)
		l.Warn("Election timeout reached, restarting election")
		// ... and writes its every round at INFO.
		l.Info("entering candidate state", "node", "node-1", "term", 3)
		l.Log(hclog.Info, "pre-vote campaign failed, waiting for election timeout", "term", 3)
		l.Info("an INFO line of raft's own")
		l.Error("a line about no peer")
		now = now.Add(100 * time.Millisecond)
	}
	l.Error("failed to appendEntries to", "peer", raft.Server{ID: "node-3"}, "error", "refused")
	count := func(s string) int { return strings.Count(buf.String(), s) }
	for _, msg := range []string{"failed to appendEntries to: peer=\"{Voter node-2", "failed to heartbeat to", "failed to contact", "failed to make requestVote RPC", "Election timeout reached",
		"entering candidate state", "pre-vote campaign failed"} {
		if n := count(msg); n != 1 {
			t.Fatalf("%q written %d times in 5 s, want once:\n%s", msg, n, buf.String())
		}
	}
	if n := count("a line about no peer"); n != 50 {
		t.Fatalf("a line naming no peer written %d times, want 50", n)
	}
	if n := count("an INFO line of raft's own"); n != 50 {
		t.Fatalf("another INFO line written %d times, want 50", n)
	}
	if n := count("node-3"); n != 1 {
		t.Fatal("another peer's line was held back")
	}
	now = now.Add(quietEvery)
	l.Error("failed to heartbeat to", "peer", raft.ServerAddress("127.0.0.1:7002"), "error", "connection refused")
	if n := count("similar_lines_left_out=49"); n != 1 {
		t.Fatalf("after %s: the line again with the count left out, got:\n%s", quietEvery, buf.String())
	}
}

// TestQuietLoggerKeepsTheNodeName: raft's candidate line names its instance "node"; under the
// node's logger, which carries node=<name>, that key comes out as "raft", so the JSON line keeps
// the node's name.
func TestQuietLoggerKeepsTheNodeName(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := newQuietLogger(hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: true}).With("node", "n1")).Named("raft")
	l.Info("entering candidate state", "node", "Node at 127.0.0.1:7001 [Candidate]", "term", 2)
	l.Log(hclog.Info, "entering candidate state", "node", "Node at 127.0.0.1:7001 [Candidate]", "term", 3)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 { // the second is held back
		t.Fatalf("want 1 line, got %q", buf.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line["node"] != "n1" || line["raft"] != "Node at 127.0.0.1:7001 [Candidate]" {
		t.Fatalf("node=%v raft=%v, want n1 and raft's own words: %s", line["node"], line["raft"], lines[0])
	}
}
