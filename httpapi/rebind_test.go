package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/console"
	"github.com/placeos-go/engine/internal/testutil"
)

func TestLoopbackHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost:8080": true, "127.0.0.1": true, "127.0.0.1:18080": true,
		"127.3.4.5:1": true, "[::1]": true, "[::1]:8080": true, "[0:0:0:0:0:0:0:1]:80": true,
		"": false, "evil.example": false, "evil.example:8080": false, "localhost.evil.example:8080": false,
		"127.0.0.1.evil.example": false, "127.1:8080": false, "0x7f000001": false, "10.0.0.1:8080": false,
		"[::2]:8080": false, "[::1": false, "::1": false, "localhost.:8080": false, "0.0.0.0:8080": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestDNSRebindingAuthNone (red team 9, finding 3): a page whose name was re-pointed at 127.0.0.1
// sends its own name in Host and Origin, so the Origin rule takes it for the node's own page.
// Under --auth none every request whose Host is not a loopback name is refused — REST reads and
// writes, the WebSocket upgrade, the console, the probes — over a real listener, with a log line.
// Under --auth keys a rebound page has no credential to use, and any Host is served.
func TestDNSRebindingAuthNone(t *testing.T) {
	t.Parallel()
	none, err := auth.New(auth.Config{Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	ui, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	var logs testutil.LockedBuffer
	hs := newHarness(t, func(c *Config) {
		c.Auth, c.Console = none, ui
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	})
	ts := httptest.NewServer(hs.h)
	t.Cleanup(ts.Close)
	port := ts.URL[strings.LastIndexByte(ts.URL, ':')+1:]
	rebound := "evil.example:" + port

	type req struct{ method, path, body string }
	reqs := []req{
		{http.MethodPost, base + "/systems/sys-1/Display_1/power", `[true]`},
		{http.MethodGet, base + "/systems/sys-1/Display_1", ``},
		{http.MethodGet, CurrentUserPath, ``},
		{http.MethodGet, "/console/", ``},
		{http.MethodGet, NodeBase + "/ready", ``},
	}
	send := func(t *testing.T, r req, host string, hdr ...string) (int, string) {
		t.Helper()
		hr, err := http.NewRequest(r.method, ts.URL+r.path, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		hr.Host = host
		for i := 0; i+1 < len(hdr); i += 2 {
			hr.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := ts.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, r := range reqs {
		// What the rebound browser sends: its own name in Host and in Origin (same-origin).
		for _, hdr := range [][]string{{"Origin", "http://" + rebound, "Content-Type", "text/plain"}, nil} {
			code, body := send(t, r, rebound, hdr...)
			var e struct{ Error, Message string }
			if code != http.StatusForbidden || json.Unmarshal([]byte(body), &e) != nil || e.Error != "access_denied" ||
				!strings.Contains(e.Message, `Host "`+rebound+`" is not a loopback name`) {
				t.Errorf("%s %s with Host %s %v: %d %s, want 403 access_denied naming the Host", r.method, r.path, rebound, hdr, code, body)
			}
		}
		for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST:" + port, "[::1]:" + port, "127.0.0.2:" + port} {
			if code, body := send(t, r, host, "Origin", "http://"+host); code != http.StatusOK {
				t.Errorf("%s %s with Host %s: %d %s, want 200", r.method, r.path, host, code, body)
			}
		}
	}
	if hs.eng.callCount() != len(reqs[:1])*5 {
		t.Errorf("the driver saw %d calls, want only the 5 loopback ones", hs.eng.callCount())
	}
	if !strings.Contains(logs.String(), "host="+rebound) {
		t.Errorf("no log line names the refused Host:\n%s", logs.String())
	}

	// The WebSocket upgrade, as a rebound page opens it.
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + ClientBase + "/systems/control"
	conn, resp, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Host": {rebound}, "Origin": {"http://" + rebound}})
	if err == nil {
		_ = conn.Close()
		t.Fatal("a rebound page opened a WebSocket session")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("rebound upgrade: %v %v, want 403", resp, err)
	}
	_ = resp.Body.Close()
	conn, _, err = websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {ts.URL}})
	if err != nil {
		t.Fatalf("the node's own page on 127.0.0.1: %v", err)
	}
	_ = conn.Close()

	// --auth keys: the same Host is served (there, credentials decide).
	keys := newHarness(t, func(c *Config) { c.Auth = originAuth(t) })
	ks := httptest.NewServer(keys.h)
	t.Cleanup(ks.Close)
	hr, _ := http.NewRequest(http.MethodGet, ks.URL+base+"/systems/sys-1/Display_1", nil)
	hr.Host = "engine.example.com"
	hr.Header.Set(auth.APIKeyHeader, originUserKey)
	resp, err = ks.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("--auth keys with Host engine.example.com: %d, want 200", resp.StatusCode)
	}
}
