package peer_test

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpapi"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/peer"
	"github.com/placeos-go/engine/placement"
	"github.com/placeos-go/engine/raftfsm"
)

// asNode is the node acting for itself, as Join and Forward call.
var asNode = auth.Caller{Clearance: auth.ClearanceAdmin, Node: true}

func TestJoin(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	ctx := httpwire.WithRequestID(t.Context(), "join-rid")
	join := raftfsm.Member{ID: "n2", RaftAddr: "10.0.0.2:7000", HTTPAddr: "10.0.0.2:8080", Labels: placement.Labels{"site": "b"}, NonVoter: true}
	if err := peer.NewClient(proved).Join(ctx, n.addr, join); err != nil {
		t.Fatal(err)
	}
	m := n.members.seen()
	if len(m.joins) != 1 || !reflect.DeepEqual(m.joins[0], join) {
		t.Fatalf("joins %+v, want %+v", m.joins, join)
	}
	if m.callers[0] != asNode || m.rids[0] != "join-rid" {
		t.Fatalf("joined by %+v, request id %q", m.callers[0], m.rids[0])
	}
}

func TestJoinErrors(t *testing.T) {
	t.Parallel()
	t.Run("missing fields", func(t *testing.T) {
		t.Parallel()
		n := newNode(t)
		c := peer.NewClient(proved)
		for _, args := range [][3]string{{"", "r:1", "h:1"}, {"n2", "", "h:1"}, {"n2", "r:1", ""}} {
			err := c.Join(t.Context(), n.addr, member(args[0], args[1], args[2]))
			wantKind(t, err, errkind.BadRequest, http.StatusBadRequest)
			if !strings.Contains(err.Error(), "join needs id, raft_addr and http_addr") {
				t.Fatalf("%q: %v", args, err)
			}
		}
		if n.members.calls() != 0 {
			t.Fatal("an incomplete join reached the membership")
		}
	})
	t.Run("refused by the membership", func(t *testing.T) {
		t.Parallel()
		n := newNode(t)
		n.members.fail(errkind.Wrap(errkind.Unavailable, nil, "not the leader"))
		err := peer.NewClient(proved).Join(t.Context(), n.addr, member("n2", "r:1", "h:1"))
		wantKind(t, err, errkind.Unavailable, http.StatusServiceUnavailable)
		if !strings.Contains(err.Error(), "not the leader") {
			t.Fatal(err)
		}
	})
	t.Run("bad bodies", func(t *testing.T) {
		t.Parallel()
		n := newNode(t)
		for _, tt := range []struct{ body, want string }{
			{`{`, `{"error":"parse_error","message":"malformed JSON body: unexpected end of JSON input"}`},
			{`["n2"]`, `{"error":"parse_error","message":"malformed JSON body: json: cannot unmarshal array into Go value of type peer.joinRequest"}`},
			{`{"id":"n2","raft_addr":"r:1","http_addr":"h:1","labels":{"site":["b"]}}`, `{"error":"parse_error","message":"malformed JSON body: placement \"site\": want a string, number or boolean, not [\"b\"]"}`},
			{`{"id":"n2"}`, `{"error":"bad_request","message":"join needs id, raft_addr and http_addr"}`},
		} {
			code, body := do(t, proved, http.MethodPost, n.url+httpapi.NodeBase+"/cluster/join", tt.body)
			if code != http.StatusBadRequest || body != tt.want {
				t.Errorf("%s: %d %s, want 400 %s", tt.body, code, body, tt.want)
			}
		}
		if n.members.calls() != 0 {
			t.Fatal("a bad join reached the membership")
		}
	})
}

func TestForward(t *testing.T) {
	t.Parallel()
	t.Run("applied as sent", func(t *testing.T) {
		t.Parallel()
		n := newNode(t)
		cmd := []byte("{\"op\":\"apply\",\"file\":{\"kind\":\"system\"}}\n\x00binary-ish")
		ctx := httpwire.WithRequestID(t.Context(), "apply-rid")
		if err := peer.NewClient(proved).Forward(ctx, n.addr, cmd); err != nil {
			t.Fatal(err)
		}
		m := n.members.seen()
		if len(m.applies) != 1 || !slices.Equal(m.applies[0], cmd) {
			t.Fatalf("applied %q, want %q", m.applies, cmd)
		}
		if m.callers[0] != asNode || m.rids[0] != "apply-rid" {
			t.Fatalf("applied by %+v, request id %q", m.callers[0], m.rids[0])
		}
	})
	t.Run("refused by the leader", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			err, kind error
			status    int
		}{
			{errkind.Wrap(errkind.Unavailable, nil, "leadership lost"), errkind.Unavailable, http.StatusServiceUnavailable},
			{errkind.Wrap(errkind.BadRequest, nil, "system sys-1 is still referenced"), errkind.BadRequest, http.StatusBadRequest},
			{errkind.Wrap(errkind.Conflict, nil, "stale version"), errkind.Conflict, http.StatusConflict},
		} {
			n := newNode(t)
			n.members.fail(tt.err)
			err := peer.NewClient(proved).Forward(t.Context(), n.addr, []byte(`{}`))
			wantKind(t, err, tt.kind, tt.status)
			if errkind.Classify(err).Message != tt.err.Error() {
				t.Fatalf("message %q, want %q", errkind.Classify(err).Message, tt.err.Error())
			}
		}
	})
	t.Run("too large", func(t *testing.T) {
		t.Parallel()
		n := newNode(t, func(s *setup) { s.peer.MaxBodyBytes = 64 })
		err := peer.NewClient(proved).Forward(t.Context(), n.addr, []byte(strings.Repeat("x", 65)))
		wantKind(t, err, errkind.TooLarge, http.StatusRequestEntityTooLarge)
		if n.members.calls() != 0 {
			t.Fatal("a body over the limit was applied")
		}
	})
}

// TestLeave: the leave route (no client method: an operator's tool or a leaving node calls it).
func TestLeave(t *testing.T) {
	t.Parallel()
	const noID = `{"error":"bad_request","message":"leave body must be {\"id\": \"\u003cnode id\u003e\"}: the node to remove, this node's own id to make it leave"}`
	tests := []struct {
		name     string
		body     string
		status   int
		answer   string
		removed  []string
		leaves   int32
		noLeave  bool // ServerConfig.Leave unset
		memberOK bool // false: RemoveNode fails
	}{
		{"another node", `{"id":"n2"}`, 200, `{"left":true}`, []string{"n2"}, 0, false, true},
		{"this node by id", `{"id":"` + nodeID + `"}`, 200, `{"left":true}`, nil, 1, false, true},
		{"this node by id, no Leave callback", `{"id":"` + nodeID + `"}`, 200, `{"left":true}`, nil, 0, true, true},
		{"removal refused", `{"id":"n2"}`, 503, `{"error":"unavailable","message":"not the leader"}`, []string{"n2"}, 0, false, false},
		// The newcomer's typo: another field than id made the node asked leave itself.
		{"unknown field", `{"node":"n2"}`, 400,
			`{"error":"bad_request","message":"leave body must be {\"id\": \"\u003cnode id\u003e\"}: json: unknown field \"node\""}`, nil, 0, false, true},
		{"empty object", `{}`, 400, noID, nil, 0, false, true},
		{"no body", ``, 400, noID, nil, 0, false, true},
		{"empty id", `{"id":""}`, 400, noID, nil, 0, false, true},
		// Asked again while the first removal holds its entry: said so, not "not a member".
		{"being removed", `{"id":"n3"}`, 409,
			`{"error":"bad_request","message":"node \"n3\" is being removed already: out of the Raft configuration, its entry kept (state removing) until it has been out of the leader's reach for the cut-off time, then its modules move"}`, nil, 0, false, true},
		{"not a member", `{"id":"nope"}`, 404,
			`{"error":"not_found","message":"node \"nope\" is not a member of the cluster (neither in the node table nor in the Raft configuration)"}`, nil, 0, false, true},
		{"bad body", `{`, 400, `{"error":"bad_request","message":"leave body must be {\"id\": \"\u003cnode id\u003e\"}: unexpected EOF"}`, nil, 0, false, true},
		{"id not a string", `{"id":2}`, 400,
			`{"error":"bad_request","message":"leave body must be {\"id\": \"\u003cnode id\u003e\"}: json: cannot unmarshal number into Go struct field .id of type string"}`,
			nil, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs testutil.LockedBuffer
			n := newNode(t, func(s *setup) {
				s.peer.Logger = logTo(&logs)
				if tt.noLeave {
					s.peer.Leave = nil
				}
			})
			n.members.mu.Lock()
			n.members.gone = []string{"n3"}
			n.members.mu.Unlock()
			if !tt.memberOK {
				n.members.fail(errkind.Wrap(errkind.Unavailable, nil, "not the leader"))
			}
			code, body := do(t, proved, http.MethodPost, n.url+httpapi.NodeBase+"/cluster/leave", tt.body)
			if code != tt.status || body != tt.answer {
				t.Fatalf("got %d %s, want %d %s", code, body, tt.status, tt.answer)
			}
			if !slices.Equal(n.members.seen().removes, tt.removed) {
				t.Fatalf("removed %v, want %v", n.members.seen().removes, tt.removed)
			}
			if got := n.leaves.Load(); got != tt.leaves {
				t.Fatalf("Leave ran %d times, want %d", got, tt.leaves)
			}
			// Whoever removes a node is in the log of the node asked, beside the node removed.
			asked := strings.Contains(logs.String(), "removal of a node asked") && strings.Contains(logs.String(), "remote=127.0.0.1:")
			if want := tt.status == 200 || !tt.memberOK; asked != want {
				t.Fatalf("logged the removal: %t, want %t:\n%s", asked, want, logs.String())
			}
		})
	}
}
