package httpapi

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/errkind"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"echoed", "abc-123", true},
		{"new when absent", "", false},
		{"new when too long", strings.Repeat("x", 129), false},
		{"new when unprintable", "a b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			for _, path := range []string{"/", base + "/systems/sys-1/types", "/no/such/route", base + "/systems/sys-x/A/f"} {
				_, _, rec := hs.do(t, http.MethodGet, path, "", RequestIDHeader, tt.sent)
				got := rec.Header().Get(RequestIDHeader)
				if tt.echoed && got != tt.sent {
					t.Fatalf("%s: X-Request-ID %q, want %q", path, got, tt.sent)
				}
				if !tt.echoed && !uuidV4.MatchString(got) {
					t.Fatalf("%s: X-Request-ID %q is not a fresh UUID", path, got)
				}
			}
		})
	}
}

func TestRouteErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path string
		status       int
		want         string
	}{
		{http.MethodGet, "/nope", 404, `{"error":"bad_request","message":"no route for GET /nope"}`},
		{http.MethodDelete, base + "/systems/sys-1/types", 405, `{"error":"bad_request","message":"method DELETE not allowed on /api/engine/v2/systems/sys-1/types"}`},
		{http.MethodGet, base + "/modules/mod-1/start", 405, `{"error":"bad_request","message":"method GET not allowed on /api/engine/v2/modules/mod-1/start"}`},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			code, body, _ := hs.do(t, tt.method, tt.path, "")
			if code != tt.status || body != tt.want {
				t.Fatalf("got %d %s", code, body)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 64
	want := `{"error":"bad_request","message":"request body exceeds 64 bytes"}`
	big := "[" + strings.Repeat(`"x",`, 40) + `"x"]`
	tests := []struct {
		name string
		req  func() *http.Request
	}{
		{"declared length", func() *http.Request {
			return mustRequest(t, http.MethodPost, base+"/systems/sys-1/Display_1/input", strings.NewReader(big))
		}},
		{"chunked", func() *http.Request {
			// io.MultiReader hides the length, so only reading finds the overflow.
			r := mustRequest(t, http.MethodPost, base+"/systems/sys-1/Display_1/input", io.MultiReader(strings.NewReader(big)))
			r.ContentLength = -1
			return r
		}},
		{"module route", func() *http.Request {
			return mustRequest(t, http.MethodPost, base+"/modules/mod-1/exec/input", strings.NewReader(big))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, func(c *Config) { c.MaxBodyBytes = limit })
			rec := serve(hs, tt.req())
			body := rec.Body.String()
			if rec.Code != http.StatusRequestEntityTooLarge || !strings.HasPrefix(body, want[:len(want)-1]) {
				t.Fatalf("got %d %s", rec.Code, body)
			}
			if hs.eng.callCount() != 0 {
				t.Fatal("oversized call reached the driver")
			}
		})
	}
	t.Run("at the limit passes", func(t *testing.T) {
		t.Parallel()
		hs := newHarness(t, func(c *Config) { c.MaxBodyBytes = limit })
		body := `["` + strings.Repeat("x", limit-6) + `",1]`
		code, resp, _ := hs.do(t, http.MethodPost, base+"/systems/sys-1/Display_1/input", body)
		if code != 200 {
			t.Fatalf("got %d %s", code, resp)
		}
	})
}

func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.eng.panicky = true
	code, body, rec := hs.do(t, http.MethodPost, base+"/systems/sys-1/Display_1/power", `[true]`, RequestIDHeader, "boom")
	if code != 500 || body != `{"error":"unexpected_failure","message":"unexpected failure (request id boom)"}` {
		t.Fatalf("got %d %s", code, body)
	}
	if rec.Header().Get(RequestIDHeader) != "boom" {
		t.Fatal("panic lost the request id")
	}
	// The server keeps serving.
	hs.eng.mu.Lock()
	hs.eng.panicky = false
	hs.eng.mu.Unlock()
	if code, body, _ := hs.do(t, http.MethodPost, base+"/systems/sys-1/Display_1/power", `[true]`); code != 200 {
		t.Fatalf("after panic: %d %s", code, body)
	}
}

func TestAuthenticateHook(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, func(c *Config) {
		c.Auth = fakeAuth{fn: func(r *http.Request) (auth.Caller, error) {
			if r.Header.Get("Authorization") == "" {
				return auth.Caller{}, errkind.New(errkind.Unauthorized, "missing credentials")
			}
			return auth.Caller{UserID: "u", Clearance: auth.ClearanceUser}, nil
		}}
	})
	if code, body, _ := hs.do(t, http.MethodGet, base+"/systems/sys-1/types", ""); code != 401 ||
		body != `{"error":"unauthorized","message":"missing credentials"}` {
		t.Fatalf("got %d %s", code, body)
	}
	if code, _, _ := hs.do(t, http.MethodGet, base+"/systems/sys-1/types", "", "Authorization", "x"); code != 200 {
		t.Fatalf("authenticated: %d", code)
	}
	// Probes stay open so orchestrators need no credentials.
	for _, p := range []string{"/", NodeBase + "/ready"} {
		if code, _, _ := hs.do(t, http.MethodGet, p, ""); code != 200 {
			t.Fatalf("%s: %d", p, code)
		}
	}
}

func TestStartServesOnLoopbackAndCloses(t *testing.T) {
	t.Parallel()
	eng := newFakeEngine()
	srv := New(Config{Engine: eng, Node: eng, Auth: fakeAuth{}, Addr: "127.0.0.1:0", Logger: hclog.NewNullLogger()})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	url := "http://" + srv.Addr().String()

	resp, err := http.Post(url+base+"/systems/sys-1/Display_1/volume", "application/json", strings.NewReader(`[10]`))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(body) != `{"ok": true}` || resp.Header.Get(RequestIDHeader) == "" {
		t.Fatalf("got %d %s %v", resp.StatusCode, body, resp.Header)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", srv.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting after Close")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); err == nil {
		t.Fatal("second Serve accepted")
	}
	if _, err := ln.Accept(); err == nil {
		t.Fatal("refused listener was left open")
	}
}

func TestStartRefusesRemoteAddressWithoutAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"[::1]:0", true},
		{"localhost:0", true},
		{"0.0.0.0:0", false},
		{":0", false},
		{"10.1.2.3:8080", false},
		{"no-port", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			err := LoopbackOnly(tt.addr)
			if (err == nil) != tt.ok {
				t.Fatalf("LoopbackOnly(%q) = %v", tt.addr, err)
			}
		})
	}
}

func TestNewRequiresDependencies(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted a nil Engine")
		}
	}()
	New(Config{Node: newFakeEngine(), Auth: fakeAuth{}})
}

func mustRequest(t *testing.T, method, path string, body io.Reader) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, "http://"+testHost+path, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestNosniffOnEveryAnswer (red team 9, informational): every answer says nosniff, so that no
// browser reads a JSON answer holding a driver's text as HTML or script — successes, the API's
// errors, refusals before routing and answers of no route.
func TestNosniffOnEveryAnswer(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	keys := newHarness(t, func(c *Config) { c.Auth = originAuth(t) })
	for _, tt := range []struct {
		hs                 *harness
		method, path, body string
		status             int
	}{
		{hs, http.MethodPost, base + "/systems/sys-1/Display_1/power", `[true]`, http.StatusOK},
		{hs, http.MethodGet, base + "/systems/sys-1/Display_1/power", ``, http.StatusOK},
		{hs, http.MethodPost, base + "/systems/sys-1/Display_1/power", `[tru`, http.StatusBadRequest},
		{hs, http.MethodGet, OpenAPIPath, ``, http.StatusOK},
		{hs, http.MethodGet, "/no/such/route", ``, http.StatusNotFound},
		{hs, http.MethodGet, "/", ``, http.StatusOK},
		{keys, http.MethodGet, base + "/systems/sys-1/Display_1", ``, http.StatusUnauthorized},
	} {
		code, body, rec := tt.hs.do(t, tt.method, tt.path, tt.body)
		if code != tt.status {
			t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, code, body, tt.status)
		}
		if got := rec.Header().Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options %q, want nosniff", tt.method, tt.path, got)
		}
	}
}
