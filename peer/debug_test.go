package peer_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpapi"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/peer"
)

// lines collects what a Debug fn receives ("level msg").
type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) fn(level, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, level+" "+msg)
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

const within = 5 * time.Second

// TestDebugStream: the owner's log lines reach fn with their level names, and cancel ends the
// stream on both sides.
func TestDebugStream(t *testing.T) {
	t.Parallel()
	for _, form := range []string{"host:port"} {
		t.Run(form, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			addr := n.addr
			var got lines
			ctx := httpwire.WithRequestID(t.Context(), "debug-rid")
			cancel, err := peer.NewClient(proved).Debug(ctx, addr, "mod-1", got.fn)
			if err != nil {
				t.Fatal(err)
			}
			defer cancel()
			testutil.Eventually(t, within, "the owner to attach", func() bool { return len(n.local.attached()) == 1 })
			if a := n.local.attached()[0]; a != (debugAttach{"mod-1", auth.Caller{Clearance: auth.ClearanceAdmin, Node: true}, "debug-rid"}) {
				t.Fatalf("attached %+v", a)
			}

			// Each level the owner logs at, and the name fn gets after the trip as a severity number.
			levels := []struct{ sent, got string }{
				{"trace", "trace"}, {"debug", "debug"}, {"info", "info"}, {"notice", "notice"},
				{"warn", "warn"}, {"warning", "warn"}, {"WARNING", "warn"}, {"error", "error"},
				{"Error", "error"}, {"fatal", "fatal"}, {"verbose", "info"}, {"", "info"},
			}
			var want []string
			for i, l := range levels {
				msg := fmt.Sprintf("line %d: \"quoted\" ünïcode", i)
				n.local.emit(l.sent, msg)
				want = append(want, l.got+" "+msg)
			}
			testutil.Eventually(t, within, "every line", func() bool { return len(got.all()) >= len(want) })
			if !slices.Equal(got.all(), want) {
				t.Fatalf("got\n%q\nwant\n%q", got.all(), want)
			}

			cancel()
			testutil.Eventually(t, within, "the owner's stream to end", func() bool { return n.local.debugEnded.Load() == 1 })
			// After cancel returns fn is never called again.
			before := len(got.all())
			n.local.emit("info", "after cancel")
			cancel() // a second cancel is harmless
			if after := len(got.all()); after != before {
				t.Fatalf("fn ran after cancel: %q", got.all()[before:])
			}
		})
	}
}

// TestDebugAttachFails: when the owner cannot attach (the module is not, or no longer, hosted
// there) the debugger route answers an ordinary error instead of upgrading, and Client.Debug
// returns it as an error of the same kind, so a WebSocket debug request hears why.
func TestDebugAttachFails(t *testing.T) {
	t.Parallel()
	for _, attachErr := range []error{
		errkind.Wrap(errkind.Conflict, nil, `module "mod-1" is hosted by node "n2"`),
		errkind.Wrap(errkind.NotFound, nil, "could not find module mod-1"),
	} {
		t.Run(attachErr.Error(), func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			n.local.onDebug(attachErr)
			dialer := websocket.Dialer{NetDialContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return proved.Dial(ctx, addr, 0) }}
			_, resp, err := dialer.DialContext(t.Context(), "ws://"+n.addr+httpapi.NodeBase+"/command/mod-1/debugger", nil)
			if err == nil || resp == nil || resp.StatusCode != errkind.Classify(attachErr).Status {
				t.Fatalf("route answered %v, %v; want status %d", resp, err, errkind.Classify(attachErr).Status)
			}
			var got lines
			cancel, err := peer.NewClient(proved).Debug(t.Context(), n.addr, "mod-1", got.fn)
			if err == nil {
				cancel()
				t.Fatal("Debug succeeded")
			}
			want, have := errkind.Classify(attachErr), errkind.Classify(err)
			if have.Status != want.Status || have.Code != want.Code || have.Message != want.Message {
				t.Fatalf("Debug error %+v, want %+v", have, want)
			}
			if len(got.all()) != 0 || n.local.debugEnded.Load() != 0 {
				t.Fatalf("lines %q, cancels %d", got.all(), n.local.debugEnded.Load())
			}
		})
	}
}

// TestDebugSlowPeer: a peer that does not keep up is dropped, and the owner's stream ends.
func TestDebugSlowPeer(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(s *setup) { s.peer.DebugQueue = 2 })
	// Ten lines before the route starts sending: the queue of two overflows at once.
	var burst []string
	for i := range 10 {
		burst = append(burst, fmt.Sprintf("info line-%d", i))
	}
	n.local.onDebug(nil, burst...)
	var got lines
	cancel, err := peer.NewClient(proved).Debug(t.Context(), n.addr, "mod-1", got.fn)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, within, "the owner's stream to end", func() bool { return n.local.debugEnded.Load() == 1 })
	cancel()
	if l := got.all(); len(l) > 2 || !slices.Equal(l, burst[:len(l)]) {
		t.Fatalf("got %q: at most the two queued lines, in order", l)
	}
}

func TestDebugRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, secret, want string
	}{
		{"wrong secret", secret + "x", "unreachable"},
		{"no secret", "", "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			var got lines
			cancel, err := peer.NewClient(peer.Proof{Secret: tt.secret}).Debug(t.Context(), n.addr, "mod-1", got.fn)
			if err == nil {
				cancel()
				t.Fatal("attached")
			}
			if !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errkind.Unavailable) {
				t.Fatalf("error %q is not an Unavailable %q", err, tt.want)
			}
			if len(n.local.attached()) != 0 {
				t.Fatal("the owner was asked to attach")
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		ts := httptest.NewServer(http.NotFoundHandler())
		addr := strings.TrimPrefix(ts.URL, "http://")
		ts.Close()
		if _, err := peer.NewClient(proved).Debug(t.Context(), addr, "mod-1", func(string, string) {}); err == nil {
			t.Fatal("attached to a closed server")
		}
	})
}

// TestDebugFrames: how Client.Debug reads what a node sends, against a bare WebSocket server
// that also checks the request.
func TestDebugFrames(t *testing.T) {
	t.Parallel()
	frames := []string{
		`[0,"trace"]`, `[1,"debug"]`, `[2,"info"]`, `[3,"notice"]`, `[4,"warn"]`, `[5,"error"]`, `[6,"fatal"]`,
		`[7,"past the end"]`, `[-1,"negative"]`,
		// Frames it cannot read are dropped.
		`not json`, `[1]`, `[1,"a","b"]`, `["warn","named"]`, `[1,2]`, `{"level":1,"msg":"x"}`, `[1.5,"fraction"]`,
		`[4, "spaced"]`,
	}
	want := []string{
		"trace trace", "debug debug", "info info", "notice notice", "warn warn", "error error", "fatal fatal",
		"info past the end", "info negative", "warn spaced",
	}
	reqs := make(chan *http.Request, 1)
	closed := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs <- r
		up := websocket.Upgrader{}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		for _, f := range frames {
			if conn.WriteMessage(websocket.TextMessage, []byte(f)) != nil {
				return
			}
		}
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
					close(closed)
				}
				return
			}
		}
	}))
	defer ts.Close()

	var got lines
	ctx := httpwire.WithRequestID(t.Context(), "frames-rid")
	// Any id the model allows (letters, digits, "_", ".", "-"). An id that needs escaping would
	// arrive escaped twice: Debug puts url.PathEscape(moduleID) in url.URL.Path, which String
	// escapes again.
	// A bare server reads no greeting: the client proves nothing (an open port's client).
	cancel, err := peer.NewClient(peer.Proof{Open: true}).Debug(ctx, strings.TrimPrefix(ts.URL, "http://"), "Mod_1.x-y", got.fn)
	if err != nil {
		t.Fatal(err)
	}
	r := <-reqs
	if r.URL.EscapedPath() != httpapi.NodeBase+"/command/Mod_1.x-y/debugger" ||
		r.Header.Get(httpwire.RequestIDHeader) != "frames-rid" {
		t.Fatalf("request %s with %v", r.URL.EscapedPath(), r.Header)
	}
	testutil.Eventually(t, within, "every readable frame", func() bool { return len(got.all()) >= len(want) })
	if !slices.Equal(got.all(), want) {
		t.Fatalf("got\n%q\nwant\n%q", got.all(), want)
	}
	cancel()
	testutil.Eventually(t, within, "a normal close frame", func() bool {
		select {
		case <-closed:
			return true
		default:
			return false
		}
	})
}
