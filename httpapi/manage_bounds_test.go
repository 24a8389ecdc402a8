package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestManagementIdentifierLimit: a management write whose id or name is past 255 bytes (a
// megabyte id was a Raft log entry, a Redis key, a log field) is refused with 400 bad_request
// naming the field and the length, never the value, over a real single-node Raft store; so is a
// path id on every management route, for every role, and nothing is written.
func TestManagementIdentifierLimit(t *testing.T) {
	t.Parallel()
	h, store, _ := secretsServer(t, true)
	const admin = "admin-key-0123456789"
	const seed = `{"drivers": [{"id": "drv-1", "module_name": "Display", "role": "device", "binary": "/bin/d"}],
		"zones": [{"id": "zone-1", "name": "Floor"}], "modules": [{"id": "mod-1", "driver_id": "drv-1"}]}`
	if code, body := request(t, h, http.MethodPut, base+"/model", admin, seed); code != 200 {
		t.Fatalf("PUT /model: %d %s", code, body)
	}
	_, version := store.Model()
	long := strings.Repeat("n", 300)
	bound := " is 300 bytes long; an identifier may have at most 255 bytes"
	for _, tt := range []struct {
		method, path, body, want string
	}{
		{http.MethodPost, "/modules", `{"id": "LONG", "driver_id": "drv-1"}`, "the module id" + bound},
		{http.MethodPut, "/zones/zone-1", `{"id": "LONG", "name": "x"}`, "the zone id" + bound},
		{http.MethodPost, "/modules", `{"id": "mod-2", "driver_id": "drv-1", "custom_name": "LONG"}`, `invalid model: module "mod-2": custom_name` + bound},
		{http.MethodPatch, "/modules/mod-1", `{"custom_name": "LONG"}`, `invalid model: module "mod-1": custom_name` + bound},
		{http.MethodPost, "/systems", `{"name": "LONG", "modules": ["mod-1"]}`, `name` + bound},
		{http.MethodPost, "/systems", `{"id": "sys-2", "name": "Room", "modules": ["LONG"]}`, `invalid model: system "sys-2": modules[0]` + bound},
		{http.MethodPatch, "/zones/zone-1", `{"name": "LONG"}`, `invalid model: zone "zone-1": name` + bound},
		{http.MethodPost, "/drivers", `{"id": "drv-2", "module_name": "LONG", "role": "device", "binary": "/bin/d"}`, `invalid model: driver "drv-2": module_name` + bound},
		{http.MethodPatch, "/zones/zone-1", `{"id": "LONG"}`, `zone id in the body does not match "zone-1" in the path`},
		{http.MethodPatch, "/drivers/LONG", `{"name": "x"}`, "the driver id" + bound},
		{http.MethodPut, "/systems/LONG", `{"id": "LONG", "name": "x"}`, "the system id" + bound},
		{http.MethodDelete, "/modules/LONG", "", "the module id" + bound},
		{http.MethodPost, "/repositories/LONG/pull", "", "the repository id" + bound},
		{http.MethodPost, "/drivers/LONG/recompile", "", "the driver id" + bound},
	} {
		path := strings.ReplaceAll(tt.path, "LONG", long)
		code, body := request(t, h, tt.method, base+path, admin, strings.ReplaceAll(tt.body, "LONG", long))
		var answer struct{ Error, Message string }
		_ = json.Unmarshal([]byte(body), &answer)
		if code != http.StatusBadRequest || answer.Error != "bad_request" || !strings.Contains(answer.Message, tt.want) {
			t.Errorf("%s %s %s: %d %s\nwant 400 bad_request %q", tt.method, tt.path, tt.body, code, body, tt.want)
		}
		if strings.Contains(body, long) {
			t.Errorf("%s %s %s: the answer quotes the value", tt.method, tt.path, tt.body)
		}
	}
	for _, key := range []string{"user-key-0123456789", "support-key-0123456789", admin} {
		for _, kind := range []string{"repositories", "drivers", "zones", "systems", "modules"} {
			code, body := request(t, h, http.MethodGet, base+"/"+kind+"/"+long, key, "")
			if code != http.StatusBadRequest || !strings.Contains(body, bound) || strings.Contains(body, long) {
				t.Errorf("GET /%s/<300 bytes> as %s: %d %s", kind, key, code, body)
			}
		}
	}
	if _, v := store.Model(); v != version {
		t.Fatalf("refused writes changed the model: version %d -> %d", version, v)
	}
	// At the bound, a name is written.
	at := strings.Repeat("n", 255)
	if code, body := request(t, h, http.MethodPatch, base+"/zones/zone-1", admin, fmt.Sprintf(`{"name": %q}`, at)); code != 200 {
		t.Fatalf("a 255-byte name: %d %s", code, body)
	}
}
