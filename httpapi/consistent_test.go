package httpapi

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/model"
)

// followerModels is a follower that names the leader's client API.
type followerModels struct{ fuzzModels }

func (followerModels) IsLeader() bool           { return false }
func (followerModels) Leader() (string, string) { return "n2", "10.0.0.2:8443" }

// A consistent read on a follower is sent to the leader with the scheme it came in on: a client
// of an HTTPS node follows the 307 with its credential (an api-key query parameter, X-API-Key),
// which an http:// Location would send in clear.
func TestConsistentRedirectKeepsScheme(t *testing.T) {
	t.Parallel()
	store := model.NewMemory()
	f, err := model.ParseFile([]byte(fuzzModel))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, as(auth.ClearanceUser), func(cfg *Config) { cfg.Models = followerModels{fuzzModels{store}} })
	const path = "/api/engine/v2/modules?consistent=true&api-key=user-key-0123456789"
	for _, tc := range []struct {
		name string
		tls  bool
		want string
	}{
		{"https", true, "https://10.0.0.2:8443" + path},
		{"http", false, "http://10.0.0.2:8443" + path},
	} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if tc.tls {
			req.TLS = &tls.ConnectionState{}
		}
		rec := httptest.NewRecorder()
		hs.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusTemporaryRedirect || rec.Header().Get("Location") != tc.want {
			t.Fatalf("%s: consistent read on a follower: %d to %q, want 307 to %q (%s)", tc.name, rec.Code,
				rec.Header().Get("Location"), tc.want, strings.TrimSpace(rec.Body.String()))
		}
	}
}
