package peer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpapi"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/peer"
)

// TestExecRoundTrip: what Client.Exec sends is what the owner's ExecuteHere receives, and what
// ExecuteHere answers is what Exec returns.
func TestExecRoundTrip(t *testing.T) {
	t.Parallel()
	user := auth.Caller{UserID: "u1", Clearance: auth.ClearanceUser}
	tests := []struct {
		name     string
		req      call.Request
		deadline time.Duration // 0: no deadline
		wantArgs string
		value    string
		code     int
	}{
		{"positional args", call.Request{Function: "power", Args: json.RawMessage(`[true, "hdmi", 2]`), Caller: user, RequestID: "rid-1"},
			5 * time.Second, `[true, "hdmi", 2]`, `{"ok":true}`, 200},
		{"named args", call.Request{Function: "volume", Args: json.RawMessage(`{"level": 30, "ramp": false}`), Caller: user, RequestID: "rid-2"},
			5 * time.Second, `{"level": 30, "ramp": false}`, `30`, 200},
		{"no args", call.Request{Function: "reboot", Caller: user, RequestID: "rid-3"},
			5 * time.Second, `[]`, `null`, 200},
		{"empty args", call.Request{Function: "reboot", Args: json.RawMessage{}, Caller: user, RequestID: "rid-4"},
			0, `[]`, `null`, 200},
		{"support caller", call.Request{Function: "power", Args: json.RawMessage(`[]`),
			Caller: auth.Caller{UserID: "s1", Clearance: auth.ClearanceSupport}, RequestID: "rid-5"}, time.Minute, `[]`, `true`, 200},
		{"admin caller", call.Request{Function: "power", Args: json.RawMessage(`[]`),
			Caller: auth.Caller{UserID: "a1", Clearance: auth.ClearanceAdmin}, RequestID: "rid-6"}, time.Minute, `[]`, `true`, 200},
		{"a driver's own call", call.Request{Function: "power", Args: json.RawMessage(`[]`),
			Caller: auth.Caller{Clearance: auth.ClearanceInternal}, RequestID: "rid-7"}, time.Minute, `[]`, `true`, 200},
		{"a driver acting for a user", call.Request{Function: "power", Args: json.RawMessage(`[]`),
			Caller: auth.Caller{UserID: "u1", Clearance: auth.ClearanceInternal, Node: true}, RequestID: "rid-8"}, time.Minute, `[]`, `true`, 200},
		{"the driver's status code", call.Request{Function: "queue", Args: json.RawMessage(`[1]`), Caller: user, RequestID: "rid-9"},
			time.Second, `[1]`, `{"queued":1}`, 202},
		{"a function name that needs escaping", call.Request{Function: `say "hi" ünï`, Args: json.RawMessage(`["x"]`), Caller: user,
			RequestID: "rid-10"}, time.Second, `["x"]`, `"said"`, 200},
		{"module id that needs escaping", call.Request{Target: call.Target{ModuleID: "mod 1?x#y"}, Function: "power", Caller: user,
			RequestID: "rid-11"}, time.Second, `[]`, `true`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			n.local.onExec(func(ctx context.Context, req call.Request) (call.Result, error) {
				return call.Result{ModuleID: req.Target.ModuleID, Value: json.RawMessage(tt.value), Code: tt.code}, nil
			})
			req := tt.req
			if req.Target.ModuleID == "" {
				req.Target.ModuleID = "mod-1"
			}
			ctx := t.Context()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			res, err := peer.NewClient(proved).Exec(ctx, n.addr, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.ModuleID != req.Target.ModuleID || string(res.Value) != tt.value || res.Code != tt.code {
				t.Fatalf("result %s %s %d, want %s %s %d", res.ModuleID, res.Value, res.Code, req.Target.ModuleID, tt.value, tt.code)
			}

			calls := n.local.execCalls()
			if len(calls) != 1 {
				t.Fatalf("%d calls reached the owner", len(calls))
			}
			got := calls[0]
			if got.Target != (call.Target{ModuleID: req.Target.ModuleID}) || got.Function != req.Function || string(got.Args) != tt.wantArgs {
				t.Fatalf("the owner got %+v %q %s, want %s %q %s", got.Target, got.Function, got.Args, req.Target.ModuleID, req.Function, tt.wantArgs)
			}
			wantCaller := req.Caller
			wantCaller.Node = true
			if got.Caller != wantCaller {
				t.Fatalf("the owner got caller %+v, want %+v", got.Caller, wantCaller)
			}
			if got.RequestID != req.RequestID {
				t.Fatalf("the owner got request id %q, want %q", got.RequestID, req.RequestID)
			}
			if tt.deadline == 0 {
				if got.Timeout != 0 {
					t.Fatalf("no deadline, yet the owner got a timeout of %s", got.Timeout)
				}
			} else if got.Timeout <= 0 || got.Timeout > tt.deadline {
				t.Fatalf("the owner got a timeout of %s for a deadline of %s", got.Timeout, tt.deadline)
			}
		})
	}
}

// TestExecRequestID: a call without a request id gets one from the owner's middleware; the one in
// the request wins over the one in ctx.
func TestExecRequestID(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c := peer.NewClient(proved)
	ctx := httpwire.WithRequestID(t.Context(), "ctx-rid")
	if _, err := c.Exec(ctx, n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "b", RequestID: "req-rid"}); err != nil {
		t.Fatal(err)
	}
	calls := n.local.execCalls()
	if rid := calls[0].RequestID; len(rid) != 36 || rid == "ctx-rid" {
		t.Fatalf("without a request id the owner got %q, want a fresh UUID", rid)
	}
	if rid := calls[1].RequestID; rid != "req-rid" {
		t.Fatalf("the owner got %q, want req-rid", rid)
	}
}

// TestExecErrors: a failure on the owner comes out of Exec as an error of the same kind, which
// presents to the original caller as it would have on the owner.
func TestExecErrors(t *testing.T) {
	t.Parallel()
	backtrace := []string{"driver.go:12 power", "exec.go:40 run"}
	tests := []struct {
		name  string
		err   error // what ExecuteHere returns
		kind  error // what the returned error is
		class string
	}{
		{"module not found", errkind.Wrap(errkind.NotFound, nil, "could not find module mod-1"), errkind.NotFound, "NotFound"},
		{"system not found", errkind.Wrap(errkind.SystemNotFound, nil, "could not find system sys-1"), errkind.SystemNotFound, "NotFound"},
		{"bad request", errkind.Wrap(errkind.BadRequest, nil, "could not find function zap"), errkind.BadRequest, "BadRequest"},
		{"forbidden", errkind.Wrap(errkind.Forbidden, nil, "reboot needs support clearance"), errkind.Forbidden, "AccessDenied"},
		{"not hosted here", errkind.Wrap(errkind.Conflict, nil, `module "mod-1" is hosted by node "n2"`), errkind.Conflict, "Conflict"},
		{"unavailable", errkind.Wrap(errkind.Unavailable, nil, "driver restarting"), errkind.Unavailable, "Unavailable"},
		{"timeout", errkind.Wrap(errkind.Timeout, nil, "power did not answer within 5s"), errkind.Timeout, "Timeout"},
		{"context deadline", context.DeadlineExceeded, errkind.Timeout, "Timeout"},
		{"driver error with its own code", &errkind.DriverError{Class: "DeviceError", Message: "jammed", Backtrace: backtrace, Code: 422},
			nil, ""},
		{"driver error without a class", &errkind.DriverError{Message: "jammed", Backtrace: backtrace, Code: 500}, nil, ""},
		{"driver argument error", &errkind.DriverError{Class: "ArgumentError", Message: "level must be an integer", Backtrace: backtrace, Code: 500}, nil, ""},
		{"internal", errors.New("open /var/lib/engine/secret.db: permission denied"), errkind.Internal, "UnexpectedFailure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			n.local.onExec(func(context.Context, call.Request) (call.Result, error) { return call.Result{}, tt.err })
			_, err := peer.NewClient(proved).Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"})
			if err == nil {
				t.Fatal("no error")
			}
			want, got := errkind.Classify(tt.err), errkind.Classify(err)

			var de *errkind.DriverError
			if errors.As(tt.err, &de) {
				var gotDE *errkind.DriverError
				if !errors.As(err, &gotDE) {
					t.Fatalf("%T %v is not a *errkind.DriverError", err, err)
				}
				if gotDE.Error() != de.Error() || gotDE.Class != de.Class || !slices.Equal(gotDE.Backtrace, backtrace) || gotDE.Code != want.Status {
					t.Fatalf("got %+v, want %+v", gotDE, de)
				}
			} else if !errors.Is(err, tt.kind) {
				t.Fatalf("%v is not %v", err, tt.kind)
			} else if got.Class != tt.class {
				t.Fatalf("class %q, want %q", got.Class, tt.class)
			}
			if got.Status != want.Status || got.Code != want.Code || got.Class != want.Class || got.Message != want.Message ||
				got.Internal != want.Internal || !slices.Equal(got.Backtrace, want.Backtrace) {
				t.Fatalf("presents as\n%+v\nwant\n%+v", got, want)
			}
			if want.Internal && strings.Contains(err.Error(), "secret.db") {
				t.Fatalf("the internal failure leaked to the calling node: %v", err)
			}
		})
	}
}

func TestExecTooLarge(t *testing.T) {
	t.Parallel()
	n := newNode(t, func(s *setup) { s.peer.MaxBodyBytes = 1024 })
	args := json.RawMessage(`["` + strings.Repeat("x", 2048) + `"]`)
	_, err := peer.NewClient(proved).Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "f", Args: args})
	wantKind(t, err, errkind.TooLarge, http.StatusRequestEntityTooLarge)
	if len(n.local.execCalls()) != 0 {
		t.Fatal("a body over the limit reached the owner")
	}
}

// TestNodeRoutesAuthentication: without TLS only a connection that opens with the cluster
// greeting gets to the node routes; the caller it names is then believed. Nothing without it —
// not a user's API key, not a claimed caller — is read past the greeting.
func TestNodeRoutesAuthentication(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, secret string }{{"wrong secret", secret + "x"}, {"no secret", ""}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			c := peer.NewClient(peer.Proof{Secret: tt.secret})
			_, err := c.Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power",
				Caller: auth.Caller{UserID: "a1", Clearance: auth.ClearanceAdmin}})
			wantKind(t, err, errkind.Unavailable, http.StatusServiceUnavailable)
			if !strings.Contains(err.Error(), "--cluster-secret") {
				t.Errorf("the error does not point at the cluster secret: %v", err)
			}
			wantKind(t, c.Join(t.Context(), n.addr, member("n2", "r:1", "h:1")), errkind.Unavailable, http.StatusServiceUnavailable)
			wantKind(t, c.Forward(t.Context(), n.addr, []byte(`{}`)), errkind.Unavailable, http.StatusServiceUnavailable)
			if len(n.local.execCalls()) != 0 || n.members.calls() != 0 {
				t.Fatal("a request without the secret got through")
			}
		})
	}
	t.Run("every route", func(t *testing.T) {
		t.Parallel()
		n := newNode(t)
		refused := n.port.Refused()
		b := n.url + httpapi.NodeBase
		routes := []struct{ method, path, body string }{
			{http.MethodPost, b + "/command/mod-1/execute", `{"__exec__":"power","power":[]}`},
			{http.MethodGet, b + "/command/mod-1/debugger", ``},
			{http.MethodPost, b + "/cluster/join", `{"id":"n2","raft_addr":"r:1","http_addr":"h:1"}`},
			{http.MethodPost, b + "/cluster/leave", `{"id":"n2"}`},
			{http.MethodPost, b + "/cluster/apply", `{}`},
		}
		for _, r := range routes {
			// Whatever else a request carries (a user's API key, the header older versions sent the
			// secret in, a caller it claims to act for), without the greeting it is not answered.
			code, body, err := send(t, peer.Proof{Open: true}, r.method, r.path, r.body, auth.APIKeyHeader, "admin-key-0123456789",
				"X-Cluster-Secret", secret, auth.UserIDHeader, "a1", auth.ClearanceHeader, "admin")
			if err == nil {
				t.Errorf("%s %s was answered: %d %s", r.method, r.path, code, body)
			}
		}
		testutil.Eventually(t, within, "every connection refused", func() bool { return n.port.Refused() >= refused+uint64(len(routes)) })
		if len(n.local.execCalls()) != 0 || len(n.local.attached()) != 0 || n.members.calls() != 0 || n.leaves.Load() != 0 {
			t.Fatal("a request without the secret reached a node route")
		}
	})
	// A port with no way to tell a node (no TLS, no secret, --auth keys) takes no connection, not
	// even one that offers a greeting; an open port (--auth none) takes every one and believes the
	// caller it names.
	t.Run("no proof configured", func(t *testing.T) {
		t.Parallel()
		n := newNode(t, func(s *setup) { s.proof = peer.Proof{} })
		for _, p := range []peer.Proof{{}, proved} {
			_, err := peer.NewClient(p).Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"})
			wantKind(t, err, errkind.Unavailable, http.StatusServiceUnavailable)
		}
		if len(n.local.execCalls()) != 0 {
			t.Fatal("a closed port served an execute")
		}
	})
	t.Run("open", func(t *testing.T) {
		t.Parallel()
		n := newNode(t, func(s *setup) { s.proof = peer.Proof{Open: true} })
		_, err := peer.NewClient(peer.Proof{Open: true}).Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power",
			Caller: auth.Caller{UserID: "u1", Clearance: auth.ClearanceUser}})
		if err != nil {
			t.Fatal(err)
		}
		if got := n.local.execCalls()[0].Caller; got != (auth.Caller{UserID: "u1", Clearance: auth.ClearanceUser, Node: true}) {
			t.Fatalf("caller %+v", got)
		}
	})
}

func TestExecUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	c := peer.NewClient(proved)
	_, err = c.Exec(t.Context(), addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"})
	wantKind(t, err, errkind.Unavailable, http.StatusServiceUnavailable)
	wantKind(t, c.Join(t.Context(), addr, member("n2", "r:1", "h:1")), errkind.Unavailable, http.StatusServiceUnavailable)
	wantKind(t, c.Forward(t.Context(), addr, []byte(`{}`)), errkind.Unavailable, http.StatusServiceUnavailable)
}

func TestExecDeadline(t *testing.T) {
	t.Parallel()
	t.Run("passed before the call", func(t *testing.T) {
		t.Parallel()
		n := newNode(t)
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer cancel()
		_, err := peer.NewClient(proved).Exec(ctx, n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"})
		wantKind(t, err, errkind.Timeout, http.StatusGatewayTimeout)
		if len(n.local.execCalls()) != 0 {
			t.Fatal("a call past its deadline reached the owner")
		}
	})
	// The deadline is short: on a slow machine it may pass before the owner is reached, and then
	// only the caller's side is checked. The owner holds the deadline as the core does (from the
	// frame's timeout), but later by lag: it counts from the call's arrival, and a busy owner
	// starts a call late. The caller sends no cancel at its deadline, so the owner's call ends at
	// its own, as DeadlineExceeded: a cancel frame would have ended it as Canceled, and the
	// driver's context with it (a forwarded call's driver saw Canceled in the upgrade drill).
	t.Run("passes while the owner works", func(t *testing.T) {
		t.Parallel()
		n := newNode(t)
		const lag = time.Second
		started, released := make(chan struct{}, 1), make(chan error, 1)
		n.local.onExec(func(ctx context.Context, req call.Request) (call.Result, error) {
			ctx, cancel := context.WithTimeout(ctx, req.Timeout+lag)
			defer cancel()
			started <- struct{}{}
			<-ctx.Done()
			released <- ctx.Err()
			return call.Result{}, ctx.Err()
		})
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := peer.NewClient(proved).Exec(ctx, n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"})
		wantKind(t, err, errkind.Timeout, http.StatusGatewayTimeout)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v does not wrap the deadline", err)
		}
		select {
		case <-started:
			waitOwnerEnded(t, released, context.DeadlineExceeded)
		default:
		}
	})
	// Exec reports any end of ctx as a timeout, a cancellation included.
	t.Run("cancelled while the owner works", func(t *testing.T) {
		t.Parallel()
		n := newNode(t)
		started, released := make(chan struct{}, 1), make(chan error, 1)
		n.local.onExec(func(ctx context.Context, _ call.Request) (call.Result, error) {
			started <- struct{}{}
			<-ctx.Done()
			released <- ctx.Err()
			return call.Result{}, ctx.Err()
		})
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			_, err := peer.NewClient(proved).Exec(ctx, n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"})
			errc <- err
		}()
		<-started
		cancel()
		wantKind(t, <-errc, errkind.Timeout, http.StatusGatewayTimeout)
		waitOwnerEnded(t, released, context.Canceled)
	})
}

// waitOwnerEnded waits for the owner's ExecuteHere to see its request context end with want.
func waitOwnerEnded(t *testing.T, released <-chan error, want error) {
	t.Helper()
	var ownerErr error
	testutil.Eventually(t, within, "the owner's call to end", func() bool {
		select {
		case ownerErr = <-released:
			return true
		default:
			return false
		}
	})
	if !errors.Is(ownerErr, want) {
		t.Fatalf("the owner's context ended with %v, want %v", ownerErr, want)
	}
}

// TestExecNotAnEngine: an answer without the engine's error body (a proxy, a node mid-restart)
// still comes back as an error of the kind its status says.
func TestExecNotAnEngine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		kind   error
	}{
		{http.StatusBadGateway, errkind.Unavailable},
		{http.StatusServiceUnavailable, errkind.Unavailable},
		{http.StatusGatewayTimeout, errkind.Timeout},
		{http.StatusNotFound, errkind.NotFound},
		{http.StatusInternalServerError, errkind.Internal},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "<html>upstream trouble</html>", tt.status)
			}))
			defer ts.Close()
			addr := strings.TrimPrefix(ts.URL, "http://")
			// A bare server reads no greeting: the client of an open port sends none.
			_, err := peer.NewClient(peer.Proof{Open: true}).Exec(t.Context(), addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"})
			if !errors.Is(err, tt.kind) {
				t.Fatalf("%v is not %v", err, tt.kind)
			}
			if want := fmt.Sprintf("node %s answered %d", addr, tt.status); !strings.Contains(err.Error(), want) {
				t.Fatalf("%q does not say %q", err, want)
			}
		})
	}
}

// TestExecuteRouteBadRequests: what the execute route refuses before the owner's engine sees it.
func TestExecuteRouteBadRequests(t *testing.T) {
	t.Parallel()
	badShape := `{"error":"bad_request","message":"body must be {\"__exec__\": \"\u003cfunction\u003e\", \"\u003cfunction\u003e\": \u003cargs\u003e}","module_id":"mod-1"}`
	tests := []struct {
		name, query, body, want string
	}{
		{"not JSON", "", `{`, `{"error":"parse_error","message":"malformed JSON body: unexpected end of JSON input","module_id":"mod-1"}`},
		{"no body", "", ``, `{"error":"parse_error","message":"malformed JSON body: unexpected end of JSON input","module_id":"mod-1"}`},
		{"an array", "", `["power"]`,
			`{"error":"parse_error","message":"malformed JSON body: json: cannot unmarshal array into Go value of type map[string]json.RawMessage","module_id":"mod-1"}`},
		{"no __exec__", "", `{"power":[]}`, badShape},
		{"__exec__ not a string", "", `{"__exec__":1}`, badShape},
		{"__exec__ empty", "", `{"__exec__":"","":[]}`, badShape},
		{"timeout not a number", "?timeout=soon", `{"__exec__":"power","power":[]}`,
			`{"error":"bad_request","message":"timeout must be a positive number of milliseconds, got \"soon\"","module_id":"mod-1"}`},
		{"timeout zero", "?timeout=0", `{"__exec__":"power","power":[]}`,
			`{"error":"bad_request","message":"timeout must be a positive number of milliseconds, got \"0\"","module_id":"mod-1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			code, body := do(t, proved, http.MethodPost, n.url+httpapi.NodeBase+"/command/mod-1/execute"+tt.query, tt.body)
			if code != http.StatusBadRequest || body != tt.want {
				t.Fatalf("got %d %s\nwant 400 %s", code, body, tt.want)
			}
			if len(n.local.execCalls()) != 0 {
				t.Fatal("a bad request reached the owner")
			}
		})
	}
	// A body naming the function but without its arguments is a call without arguments.
	t.Run("no args", func(t *testing.T) {
		t.Parallel()
		n := newNode(t)
		code, body := do(t, proved, http.MethodPost, n.url+httpapi.NodeBase+"/command/mod-1/execute?timeout=1500", `{"__exec__":"power"}`)
		if code != http.StatusOK || body != `{"ok":true}` {
			t.Fatalf("got %d %s", code, body)
		}
		if got := n.local.execCalls()[0]; got.Args != nil || got.Timeout != 1500*time.Millisecond {
			t.Fatalf("the owner got args %q, timeout %s", got.Args, got.Timeout)
		}
	})
}

func TestExecBadAddress(t *testing.T) {
	t.Parallel()
	_, err := peer.NewClient(proved).Exec(t.Context(), "bad host:80", call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"})
	wantKind(t, err, errkind.BadRequest, http.StatusBadRequest)
}
