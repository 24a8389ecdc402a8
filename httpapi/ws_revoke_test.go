package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestWSSessionEndsWhenItsKeyIsRevoked: after the API keys are replaced, a session opened with a
// key the new set no longer holds, or holds with a lower role, is closed with 4001 "credential
// revoked" — whichever way the key travelled — and an execute it had in flight is cancelled; sessions of a kept key, of a key whose
// role rose, and of a bearer token go on. The removed key opens no new session.
func TestWSSessionEndsWhenItsKeyIsRevoked(t *testing.T) {
	t.Parallel()
	env := wsAuthEnv(t)
	authn := env.hs.srv.cfg.Auth.(*auth.Authenticator)
	authn.OnAPIKeysChange(env.hs.srv.EndRevokedSessions)
	var log execLog
	log.install(env.hs.eng)

	removed := env.dial(t, auth.APIKeyHeader, wsaAdminKey)
	// The same key in the query and in a cookie (from the engine's own page) is revoked alike.
	inQuery, _, err := websocket.DefaultDialer.Dial(env.url+"?"+url.Values{auth.APIKeyParam: {wsaAdminKey}}.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inQuery.Close() })
	inCookie := env.dial(t, "Cookie", (&http.Cookie{Name: auth.APIKeyParam, Value: wsaAdminKey}).String(),
		"Origin", "http://"+env.hs.srv.Addr().String())
	lowered := env.dial(t, auth.APIKeyHeader, wsaSupportKey)
	raised := env.dial(t, auth.APIKeyHeader, wsaUserKey)
	token := env.dial(t, "Authorization", "Bearer "+wsaToken(t, "jwt-a", "admin", nil))
	removed.send(`{"id":1,"cmd":"exec","sys":"sys-1","mod":"Display","name":"slow","args":[]}`)
	testutil.Eventually(t, 10*time.Second, "the slow execute running", func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		return len(log.deadlines) == 1
	})

	keys, err := auth.ParseAPIKeys([]byte(fmt.Sprintf(`
- {key: %q, user_id: ws-u, role: admin}
- {key: %q, user_id: ws-s, role: user}
`, wsaUserKey, wsaSupportKey)))
	if err != nil {
		t.Fatal(err)
	}
	if err := authn.SetAPIKeys(keys); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*wsClient{"removed": removed, "removed, in the query": {t: t, conn: inQuery},
		"removed, in a cookie": inCookie, "lowered": lowered} {
		ce, _ := waitClose(t, c.conn, 10*time.Second)
		if ce.Code != WSCloseCredentialExpired || ce.Text != "credential revoked" {
			t.Fatalf("the %s key's session closed with %d %q, want %d %q", name, ce.Code, ce.Text, WSCloseCredentialExpired, "credential revoked")
		}
	}
	testutil.Eventually(t, 10*time.Second, "the revoked sessions gone, their execute cancelled", func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		return env.hs.srv.WSSessions() == 2 && log.slowErr != nil
	})
	for _, c := range []*wsClient{raised, token} {
		c.send(`{"id":2,"cmd":"exec","sys":"sys-1","mod":"Display","name":"power","args":[]}`)
		c.expect(`{"id":2,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"power"},"value":true,"code":200}`)
	}
	conn, resp, err := websocket.DefaultDialer.Dial(env.url, http.Header{auth.APIKeyHeader: {wsaAdminKey}})
	if err == nil {
		_ = conn.Close()
		t.Fatal("the removed key opened a session")
	}
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the removed key: %v, want a 401", err)
	}
}

// swapAfterAuth is an Authenticator whose keys are replaced right after it authenticates a
// request: the reload lands between a session's authentication and its registration.
type swapAfterAuth struct {
	*auth.Authenticator
	swap func()
}

func (a swapAfterAuth) Authenticate(r *http.Request) (auth.Caller, error) {
	c, err := a.Authenticator.Authenticate(r)
	a.swap()
	return c, err
}

// TestWSSessionRevokedWhileOpening: a key revoked while its session is being opened (after the
// upgrade request was authenticated, before the session is registered, where the reload's sweep
// of the sessions does not see it) still ends the session with 4001.
func TestWSSessionRevokedWhileOpening(t *testing.T) {
	t.Parallel()
	authn := keysAuth(t, fmt.Sprintf("[{key: %q, user_id: ws-a, role: admin}, {key: %q, user_id: ws-u}]", wsaAdminKey, wsaUserKey))
	without, err := auth.ParseAPIKeys([]byte(fmt.Sprintf("[{key: %q, user_id: ws-u}]", wsaUserKey)))
	if err != nil {
		t.Fatal(err)
	}
	env := newWSEnv(t, func(c *Config) {
		c.Auth = swapAfterAuth{authn, func() {
			if err := authn.SetAPIKeys(without); err != nil {
				t.Error(err)
			}
		}}
	})
	authn.OnAPIKeysChange(func() { env.hs.srv.EndRevokedSessions() })
	c := env.dial(t, auth.APIKeyHeader, wsaAdminKey)
	ce, _ := waitClose(t, c.conn, 10*time.Second)
	if ce.Code != WSCloseCredentialExpired || ce.Text != "credential revoked" {
		t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Text, WSCloseCredentialExpired, "credential revoked")
	}
	env.dial(t, auth.APIKeyHeader, wsaUserKey).quiet()
}
