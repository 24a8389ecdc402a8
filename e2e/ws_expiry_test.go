package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestWSExpiryAcrossNodes: a WebSocket session on node A opened with a bearer token ends when the
// token expires — close 4001 — and what it started on node B ends with it: the debug stream A
// opened on B's debugger route (B turns the driver's debug forwarding off) and an execute
// forwarded to B that would have run for a minute (B records it finished within seconds of the
// expiry: its deadline was the expiry). Real nodes, real driver processes, a real token.
func TestWSExpiryAcrossNodes(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	const secret = "wsexp-jwt-secret-0123456789abcdef"
	secretFile := filepath.Join(t.TempDir(), "jwt.secret")
	testutil.WriteFile(t, secretFile, secret)
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t), "--jwt-secret-file", secretFile)
	cfg.APIKey = adminKey
	c := enginetest.StartCluster(t, cfg, "wsexp", 2, clusterModel(drv), clusterModules)
	a, b := c.Nodes[0], c.Nodes[1]
	mod, index := moduleOn(t, c, b)
	admin := enginetest.APIKey(adminKey)

	// A support token the verifier accepts for about eight more seconds: exp 22 s ago, and 30 s
	// of leeway.
	exp := time.Now().Add(-22 * time.Second).Unix()
	expires := time.Unix(exp, 0).Add(30 * time.Second)
	token := func(exp int64) http.Header {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "tess", "role": "support", "exp": exp}).
			SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Authorization": {"Bearer " + tok}}
	}
	ws := dialControlWith(t, a, token(exp))
	ws.debugFrom(1, b, mod, admin)
	// slow sets its module's "busy" status, then sleeps for a minute unless its call is cancelled.
	ws.send(fmt.Sprintf(`{"id":2,"cmd":"exec","sys":"sys-1","mod":"Test","index":%d,"name":"slow","args":[60000]}`, index))
	b.Eventually(15*time.Second, "the forwarded execute running on "+b.ID, func() bool {
		r := a.Do("GET", fmt.Sprintf("/api/engine/v2/systems/sys-1/Test_%d/busy", index), "", admin)
		return r.Status == 200 && strings.TrimSpace(r.Body) == "true"
	})
	if n := execsDone(t, b, "slow"); n != 0 {
		t.Fatalf("%s finished %v slow executes already", b.ID, n)
	}
	if time.Now().After(expires) {
		t.Fatal("the machine is too slow: the token expired before the session was set up")
	}

	// The session ends at the expiry with 4001.
	testutil.Eventually(t, 30*time.Second, "the session closed", ws.closed)
	var ce *websocket.CloseError
	if !errors.As(ws.end, &ce) || ce.Code != 4001 || ce.Text != "credential expired" {
		t.Fatalf("the session ended with %v, want close 4001 credential expired", ws.end)
	}
	if now := time.Now(); now.Before(expires) {
		t.Fatalf("closed %s before the token expired", expires.Sub(now))
	}
	// B's debugger stream for A closed with it: nobody listens, so forwarding goes off.
	b.Eventually(15*time.Second, "debug forwarding off on "+b.ID, func() bool {
		return !logLine(t, b, mod, "after the expiry", admin)
	})
	// The forwarded execute was stopped at the expiry, not after its minute.
	b.Eventually(15*time.Second, "the forwarded execute ended on "+b.ID, func() bool { return execsDone(t, b, "slow") == 1 })
	if late := time.Since(expires); late > 20*time.Second {
		t.Fatalf("the forwarded execute ended %s after the expiry", late)
	}

	// The client reconnects: with the expired token it is refused before any upgrade; with a
	// fresh one it has a session again.
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+a.HTTP+"/api/engine/v2/systems/control", token(exp))
	if err == nil {
		_ = conn.Close()
		t.Fatal("the expired token opened a session")
	}
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the expired token: %v, want a 401", err)
	}
	dialControlWith(t, a, token(time.Now().Add(time.Hour).Unix())).quiet()
}

// moduleOn is a module of clusterModel that runs on node n, and its index in sys-1.
func moduleOn(t *testing.T, c *enginetest.Cluster, n *enginetest.Node) (string, int) {
	t.Helper()
	placed, err := c.Placement()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= clusterModules; i++ {
		if id := fmt.Sprintf("mod-%02d", i); placed[id] == n.ID {
			return id, i
		}
	}
	t.Fatalf("placement %v has no module on %s", placed, n.ID)
	return "", 0
}

// execsDone is how many executes of function fn node n has finished running, by its metrics
// (engine_exec_duration_seconds, summed over drivers and results).
func execsDone(t *testing.T, n *enginetest.Node, fn string) float64 {
	t.Helper()
	r := n.Do("GET", "/metrics", "", enginetest.APIKey(adminKey))
	if r.Status != 200 {
		t.Fatalf("metrics of %s: %d %s", n.ID, r.Status, r.Body)
	}
	var done float64
	for _, line := range strings.Split(r.Body, "\n") {
		if strings.HasPrefix(line, "engine_exec_duration_seconds_count{") && strings.Contains(line, `function="`+fn+`"`) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("metrics of %s: %q", n.ID, line)
			}
			done += v
		}
	}
	return done
}
