package httpapi

import (
	"context"
	"net/http"
	"testing"

	"github.com/placeos-go/engine/model"
)

// TestErrorLabels: REST names a missing management entity not_found and missing credentials
// unauthorized (docs/protocol.md §6.2): a missing zone is not a missing module, and a caller
// without credentials is not one whose clearance is too low.
func TestErrorLabels(t *testing.T) {
	t.Parallel()
	store := model.NewMemory()
	seed, err := model.ParseFile([]byte(fuzzModel))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, func(c *Config) { c.Models = fuzzModels{store} })
	tests := []struct {
		name, method, path string
		status             int
		want               string
	}{
		{"missing zone", http.MethodGet, base + "/zones/nope", 404, `{"error":"not_found","message":"zone \"nope\" not found"}`},
		{"missing driver", http.MethodGet, base + "/drivers/nope", 404, `{"error":"not_found","message":"driver \"nope\" not found"}`},
		{"deleting a missing driver", http.MethodDelete, base + "/drivers/nope", 404, `{"error":"not_found","message":"driver \"nope\": not found"}`},
		{"missing system entity", http.MethodGet, base + "/systems/nope", 404, `{"error":"not_found","message":"system \"nope\" not found"}`},
		// The client routes keep PlaceOS's names.
		{"missing system", http.MethodGet, base + "/systems/nope/types", 404, `{"error":"system_not_found","message":"could not find system nope","sys_id":"nope"}`},
		{"missing module", http.MethodGet, base + "/modules/mod-gone/state", 404,
			`{"error":"module_not_found","message":"module mod-gone does not exist","module_id":"mod-gone"}`},
	}
	for _, tt := range tests {
		code, body, _ := hs.do(t, tt.method, tt.path, "")
		if code != tt.status || body != tt.want {
			t.Errorf("%s: %d %s\nwant %d %s", tt.name, code, body, tt.status, tt.want)
		}
	}
}
