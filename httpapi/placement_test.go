package httpapi

import (
	"net/http"

	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
)

// TestPlacementWrites: the placement field is written and read back through the management
// routes by an admin only, and a bad one is refused with 400 naming the entity and the label.
func TestPlacementWrites(t *testing.T) {
	t.Parallel()
	h, _, _ := secretsServer(t, false)
	const (
		user    = "user-key-0123456789"
		support = "support-key-0123456789"
		admin   = "admin-key-0123456789"
	)
	base := ClientBase
	if code, body := request(t, h, http.MethodPut, base+"/model", admin,
		`{"drivers": [{"id": "drv-1", "module_name": "D", "role": "device", "binary": "/bin/d", "placement": {"site": "hq"}}]}`); code != 200 {
		t.Fatalf("PUT /model: %d %s", code, body)
	}
	mod := `{"id": "mod-1", "driver_id": "drv-1", "placement": {"site": "b", "floor": 3}}`
	for _, key := range []string{user, support} {
		if code, body := request(t, h, http.MethodPut, base+"/modules/mod-1", key, mod); code != http.StatusForbidden {
			t.Fatalf("PUT with placement below admin: %d %s", code, body)
		}
	}
	// An admin's cookie sent by a foreign page changes no placement.
	hs := &harness{h: h}
	cookie := (&http.Cookie{Name: auth.APIKeyParam, Value: admin}).String()
	if code, body, _ := hs.do(t, http.MethodPut, base+"/modules/mod-1", mod, "Cookie", cookie, "Origin", "https://evil.example"); code != http.StatusForbidden {
		t.Fatalf("PUT with placement by a foreign page: %d %s", code, body)
	}
	code, body := request(t, h, http.MethodPut, base+"/modules/mod-1", admin, mod)
	if code != 200 || !strings.Contains(body, `"placement":{"floor":"3","site":"b"}`) {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if code, body := request(t, h, http.MethodGet, base+"/drivers/drv-1", user, ""); code != 200 || !strings.Contains(body, `"placement":{"site":"hq"}`) {
		t.Fatalf("GET driver: %d %s", code, body)
	}
	for _, tt := range []struct{ body, says string }{
		{`{"id": "mod-2", "driver_id": "drv-1", "placement": {"site": "a b"}}`, `module \"mod-2\": placement: label site=\"a b\"`},
		{`{"id": "mod-2", "driver_id": "drv-1", "placement": {"": "x"}}`, `empty key`},
		{`{"id": "mod-2", "driver_id": "drv-1", "placement": ["site"]}`, `placement must be an object`},
		{`{"id": "mod-2", "driver_id": "drv-1", "placement": {"site": null}}`, `placement: label \"site\" has an empty value`},
	} {
		code, body := request(t, h, http.MethodPut, base+"/modules/mod-2", admin, tt.body)
		if code != http.StatusBadRequest || !strings.Contains(body, tt.says) {
			t.Fatalf("PUT %s: %d %s, want 400 saying %s", tt.body, code, body, tt.says)
		}
	}
}
