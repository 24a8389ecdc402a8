package raftfsm

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Raft's replication loops log every failed heartbeat and append to a peer that is gone at
// ERROR, several times a second, for as long as the peer stays in the configuration (minutes,
// until the leader removes it); a node with no leader logs each refused vote request as often,
// for ever when the others removed it while it was down (its membership ERROR tells why), and
// writes every round of its campaign at INFO. The leader's `node down` line (leader.go) already tells
// the operator; so raft's repeated lines about one peer, and those of a campaign, are written once
// per quietEvery, each with how many like it were left out since.
const quietEvery = 30 * time.Second

// quietLogger passes everything through to the node's logger, except raft's repeated warnings
// and errors about one peer and the lines of a campaign.
type quietLogger struct {
	hclog.Logger
	q *quieter
}

type quieter struct {
	mu   sync.Mutex
	now  func() time.Time
	seen map[string]*quietLine // message + peer
}

type quietLine struct {
	last    time.Time
	skipped int
}

func newQuietLogger(l hclog.Logger) hclog.Logger {
	return quietLogger{Logger: l, q: &quieter{now: time.Now, seen: map[string]*quietLine{}}}
}

func (l quietLogger) Error(msg string, args ...any) {
	if args, ok := l.q.pass(msg, ownKeys(args)); ok {
		l.Logger.Error(msg, args...)
	}
}

func (l quietLogger) Warn(msg string, args ...any) {
	if args, ok := l.q.pass(msg, ownKeys(args)); ok {
		l.Logger.Warn(msg, args...)
	}
}

func (l quietLogger) Info(msg string, args ...any) {
	if args, ok := l.q.passInfo(msg, ownKeys(args)); ok {
		l.Logger.Info(msg, args...)
	}
}

func (l quietLogger) Log(level hclog.Level, msg string, args ...any) {
	args = ownKeys(args)
	if level == hclog.Info {
		var ok bool
		if args, ok = l.q.passInfo(msg, args); !ok {
			return
		}
	}
	if level == hclog.Error || level == hclog.Warn {
		var ok bool
		if args, ok = l.q.pass(msg, args); !ok {
			return
		}
	}
	l.Logger.Log(level, msg, args...)
}

func (l quietLogger) With(args ...any) hclog.Logger {
	return quietLogger{Logger: l.Logger.With(args...), q: l.q}
}

func (l quietLogger) Named(name string) hclog.Logger {
	return quietLogger{Logger: l.Logger.Named(name), q: l.q}
}

func (l quietLogger) ResetNamed(name string) hclog.Logger {
	return quietLogger{Logger: l.Logger.ResetNamed(name), q: l.q}
}

// ownKeys renames the key "node" of a raft line (its candidate line names the raft instance so)
// to "raft": the node's logger already carries "node", its name, and a second key of that name
// would be written twice in text and replace the name in JSON.
func ownKeys(args []any) []any {
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k == "node" {
			args = append([]any(nil), args...)
			args[i] = "raft"
		}
	}
	return args
}

// repeatsAlone are raft's warnings that name no peer yet repeat several times a second for as long
// as a node has no leader: a candidate's every election round (a node removed while it was down
// campaigns for ever; its membership ERROR and /ready say why).
var repeatsAlone = map[string]bool{"Election timeout reached, restarting election": true}

// campaignInfo are raft's INFO lines of every election round, as often as the round repeats on a
// node that campaigns for ever (~2.6 a second each). A real election writes them once.
var campaignInfo = map[string]bool{
	"entering candidate state":                               true,
	"pre-vote campaign failed, waiting for election timeout": true,
}

// passInfo is pass for raft's INFO lines: only campaignInfo's are ever held back.
func (q *quieter) passInfo(msg string, args []any) ([]any, bool) {
	if !campaignInfo[msg] {
		return args, true
	}
	return q.hold(msg, args)
}

// pass reports whether a line is written, and its arguments (with the count of lines like it
// left out). Only lines naming a peer, and those of repeatsAlone, are ever held back.
func (q *quieter) pass(msg string, args []any) ([]any, bool) {
	peer := ""
	for i := 0; i+1 < len(args); i += 2 {
		// target: the peer a candidate asked for its vote, refused several times a second by
		// members that no longer count this node (removed while it was down) or cannot be reached.
		if k, _ := args[i].(string); k == "peer" || k == "server-id" || k == "target" {
			peer = fmt.Sprint(args[i+1]) // a string, a raft.ServerAddress or a raft.Server
			break
		}
	}
	if peer == "" && !repeatsAlone[msg] {
		return args, true
	}
	return q.hold(msg+"\x00"+peer, args)
}

// hold writes the line under key once per quietEvery, with the count of those left out since.
func (q *quieter) hold(key string, args []any) ([]any, bool) {
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	line := q.seen[key]
	if line == nil {
		if len(q.seen) > 1024 { // peers come and go: forget them all rather than grow
			clear(q.seen)
		}
		q.seen[key] = &quietLine{last: now}
		return args, true
	}
	if now.Sub(line.last) < quietEvery {
		line.skipped++
		return nil, false
	}
	if line.skipped > 0 {
		args = append(append([]any(nil), args...), "similar_lines_left_out", line.skipped)
	}
	line.last, line.skipped = now, 0
	return args, true
}
