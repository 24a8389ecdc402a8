package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/internal/testutil"
)

// A session lasts as long as the credential that opened it: a bearer token's session ends when a
// fresh request with the same token would be refused (exp plus the verifier's 30 s of leeway),
// with close 4001, and nothing it asked for runs past that moment.

// expiringToken is a bearer token for sub (support, so that it may debug) that the verifier
// accepts for about two more seconds: its exp is 28 s ago, and the leeway is 30 s. It returns
// the moment the verifier starts refusing it.
func expiringToken(t *testing.T, sub string) (string, time.Time) {
	t.Helper()
	exp := time.Now().Add(-28 * time.Second).Unix()
	return wsaToken(t, sub, "support", jwt.MapClaims{"exp": exp}), time.Unix(exp, 0).Add(30 * time.Second)
}

// execLog records the deadline each execute reached the engine with, and how each "slow" execute
// ended.
type execLog struct {
	mu        sync.Mutex
	deadlines []time.Time // zero: none
	slowEnded time.Time
	slowErr   error
}

func (l *execLog) install(eng *fakeEngine) {
	eng.mu.Lock()
	defer eng.mu.Unlock()
	eng.execFn = func(ctx context.Context, req call.Request) (call.Result, error) {
		dl, _ := ctx.Deadline()
		l.mu.Lock()
		l.deadlines = append(l.deadlines, dl)
		l.mu.Unlock()
		if req.Function == "slow" {
			<-ctx.Done() // a driver call that runs until it is cancelled
			l.mu.Lock()
			l.slowEnded, l.slowErr = time.Now(), ctx.Err()
			l.mu.Unlock()
			return call.Result{}, ctx.Err()
		}
		return call.Result{Value: json.RawMessage(`true`), Code: 200}, nil
	}
}

// waitClose reads until the server closes the socket and returns its close frame and when it
// arrived; anything before it (answers, notifies) is skipped.
func waitClose(t *testing.T, conn *websocket.Conn, within time.Duration) (*websocket.CloseError, time.Time) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		at := time.Now()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("the socket ended without a close frame: %v", err)
		}
		return ce, at
	}
}

// TestWSSessionEndsWhenItsTokenExpires: a session opened with a bearer token — in the header or
// the query or a cookie — is closed with 4001 "credential expired" at the moment the token stops being
// accepted, no earlier and not much later; its bindings and debug streams are dropped, an
// execute in flight is cancelled then, and one sent after it does not run. A session opened with
// an API key on the same server goes on.
func TestWSSessionEndsWhenItsTokenExpires(t *testing.T) {
	t.Parallel()
	for _, where := range []string{"header", "query", "cookie"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			env := wsAuthEnv(t)
			var log execLog
			log.install(env.hs.eng)
			env.set(t, "mod-1", "power", "true")

			tok, expires := expiringToken(t, "jwt-"+where)
			var c *wsClient
			switch where {
			case "header":
				c = env.dial(t, "Authorization", "Bearer "+tok)
			case "cookie":
				c = env.dial(t, "Cookie", (&http.Cookie{Name: auth.BearerParam, Value: tok}).String(),
					"Origin", "http://"+env.hs.srv.Addr().String())
			default:
				conn, _, err := websocket.DefaultDialer.Dial(env.url+"?"+url.Values{auth.BearerParam: {tok}}.Encode(), nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = conn.Close() })
				c = &wsClient{t: t, conn: conn}
			}
			key := env.dial(t, auth.APIKeyHeader, wsaSupportKey)

			// Before the expiry the session works as any other: a binding, a debug stream, an
			// execute, and one that runs until it is cancelled.
			c.send(`{"id":1,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`)
			c.expect(`{"id":1,"type":"success","meta":` + meta1 + `}`)
			c.expect(`{"id":1,"type":"notify","meta":` + meta1 + `,"value":true}`)
			c.send(`{"id":2,"cmd":"debug","mod":"mod-dbg"}`)
			c.expect(`{"id":2,"type":"success"}`)
			c.send(`{"id":3,"cmd":"exec","sys":"sys-1","mod":"Display","name":"power","args":[]}`)
			c.expect(`{"id":3,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"power"},"value":true,"code":200}`)
			c.send(`{"id":4,"cmd":"exec","sys":"sys-1","mod":"Display","name":"slow","args":[]}`)
			if time.Now().After(expires.Add(-500 * time.Millisecond)) {
				t.Fatal("the machine is too slow: the token expired before the session was set up")
			}
			if n, l := env.subs.Count(), env.dbg.listeners(); n != 1 || l != 1 {
				t.Fatalf("watches %d, debug listeners %d before the expiry", n, l)
			}

			ce, at := waitClose(t, c.conn, 10*time.Second)
			if ce.Code != WSCloseCredentialExpired || ce.Text != "credential expired" {
				t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Text, WSCloseCredentialExpired, "credential expired")
			}
			if at.Before(expires) {
				t.Fatalf("closed %s before the token expired", expires.Sub(at))
			}
			if late := at.Sub(expires); late > 2*time.Second {
				t.Fatalf("closed %s after the token expired", late)
			}
			t.Logf("closed %s after the expiry", at.Sub(expires))
			// An exec sent now is not run: the session is gone (if the write gets through at all).
			calls := env.hs.eng.callCount()
			_ = c.conn.WriteMessage(websocket.TextMessage, []byte(`{"id":6,"cmd":"exec","sys":"sys-1","mod":"Display","name":"power","args":[]}`))

			testutil.Eventually(t, 10*time.Second, "the session's bindings, debug stream and place released", func() bool {
				return env.subs.Count() == 0 && env.dbg.listeners() == 0 && env.hs.srv.WSSessions() == 1
			})
			log.mu.Lock()
			if len(log.deadlines) != 2 {
				t.Fatalf("%d executes reached the engine, want 2", len(log.deadlines))
			}
			for i, dl := range log.deadlines {
				// The deadline travels with a forwarded execute: another node cannot run it
				// past the expiry either.
				if dl.IsZero() || dl.After(expires) {
					t.Fatalf("execute %d carried the deadline %v, past the expiry %v", i, dl, expires)
				}
			}
			// Cancelled by the deadline, or by the session's end if the reader noticed first.
			if log.slowEnded.Before(expires) || log.slowErr == nil {
				t.Fatalf("the execute in flight ended at %v (%v), want cancelled at the expiry %v", log.slowEnded, log.slowErr, expires)
			}
			log.mu.Unlock()

			// The API key's session was not touched: it still executes, and it is the only one.
			if n := env.hs.eng.callCount(); n != calls {
				t.Fatalf("%d executes ran after the session closed", n-calls)
			}
			key.send(`{"id":5,"cmd":"exec","sys":"sys-1","mod":"Display","name":"power","args":[]}`)
			key.expect(`{"id":5,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"power"},"value":true,"code":200}`)
			key.quiet()
			if n := env.hs.eng.callCount(); n != calls+1 {
				t.Fatalf("%d executes ran after the session closed", n-calls-1)
			}
		})
	}
}

// sessionDeadlines are the deadlines of the server's open sessions (zero: none).
func sessionDeadlines(s *Server) []time.Time {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	var out []time.Time
	for ss := range s.ws.sessions {
		dl, _ := ss.ctx.Deadline()
		out = append(out, dl)
	}
	return out
}

// TestWSSessionsWithoutExpiry: sessions opened with an API key, or under --auth none, have no
// expiry — no deadline, no timer — and a bearer token's session has its token's.
func TestWSSessionsWithoutExpiry(t *testing.T) {
	t.Parallel()
	none, err := auth.New(auth.Config{Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	keyed := wsAuthEnv(t)
	for _, tt := range []struct {
		name string
		env  *wsEnv
		hdr  []string
	}{
		{"api key", keyed, []string{auth.APIKeyHeader, wsaUserKey}},
		{"auth none", newWSEnv(t, func(c *Config) { c.Auth = none }), nil},
	} {
		c := tt.env.dial(t, tt.hdr...)
		c.send(`{"id":1,"cmd":"exec","sys":"sys-1","mod":"Display","name":"power","args":[]}`)
		c.expect(`{"id":1,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"power"},"value":{"ok":true},"code":200}`)
		if dls := sessionDeadlines(tt.env.hs.srv); len(dls) != 1 || !dls[0].IsZero() {
			t.Fatalf("%s: session deadlines %v, want one session without any", tt.name, dls)
		}
		if err := c.conn.Close(); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, "the session gone", func() bool { return tt.env.hs.srv.WSSessions() == 0 })
	}
	exp := time.Now().Add(time.Hour).Unix()
	keyed.dial(t, "Authorization", "Bearer "+wsaToken(t, "jwt-hour", "", jwt.MapClaims{"exp": exp})).quiet()
	if dls := sessionDeadlines(keyed.hs.srv); len(dls) != 1 || !dls[0].Equal(time.Unix(exp, 0).Add(30*time.Second)) {
		t.Fatalf("session deadlines %v, want the token's exp + 30 s", dls)
	}
}

// TestWSRequestReadAfterTheExpiry: a request read after the credential expired, before the
// session's timer has ended it, does not run, whatever the caller's role: the session ends
// there, with the same close, said at INFO with the user and the session's request id. (The
// clock is moved rather than waited for: the timer is an hour away.)
func TestWSRequestReadAfterTheExpiry(t *testing.T) {
	t.Parallel()
	var logs testutil.LockedBuffer
	env := wsAuthEnv(t, func(c *Config) {
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: io.MultiWriter(testWriter{t}, &logs), Level: hclog.Debug})
	})
	for _, role := range []string{"user", "support", "admin"} {
		env.hs.srv.ws.skew.Store(0)
		c := env.dial(t, "Authorization", "Bearer "+wsaToken(t, "jwt-late-"+role, role, nil))
		c.send(`{"id":1,"cmd":"exec","sys":"sys-1","mod":"Display","name":"power","args":[]}`)
		c.expect(`{"id":1,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"power"},"value":{"ok":true},"code":200}`)
		calls := env.hs.eng.callCount()

		env.hs.srv.ws.skew.Store(int64(2 * time.Hour))
		c.send(`{"id":2,"cmd":"exec","sys":"sys-1","mod":"Display","name":"power","args":[]}`)
		// The server may have closed the connection by now: these get through or not.
		_ = c.conn.WriteMessage(websocket.TextMessage, []byte(`{"id":3,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`))
		_ = c.conn.WriteMessage(websocket.TextMessage, []byte(`{"id":4,"cmd":"debug","mod":"mod-late"}`))
		ce, _ := waitClose(t, c.conn, 10*time.Second)
		if ce.Code != WSCloseCredentialExpired || ce.Text != "credential expired" {
			t.Fatalf("%s: closed with %d %q, want %d %q", role, ce.Code, ce.Text, WSCloseCredentialExpired, "credential expired")
		}
		testutil.Eventually(t, 10*time.Second, "the session gone", func() bool { return env.hs.srv.WSSessions() == 0 })
		if n := env.hs.eng.callCount(); n != calls {
			t.Fatalf("%s: %d executes ran after the expiry", role, n-calls)
		}
		if n, l := env.subs.Count(), env.dbg.listeners(); n != 0 || l != 0 {
			t.Fatalf("%s: after the expiry, %d watches and %d debug listeners", role, n, l)
		}
		if !regexp.MustCompile(`\[INFO\] +http\.ws: websocket session ended: its credential expired [^\n]*request_id=\S+ user=jwt-late-` + role + ` `).MatchString(logs.String()) {
			t.Fatalf("%s: no INFO line with the user and request id for the expiry in\n%s", role, logs.String())
		}
	}
}
