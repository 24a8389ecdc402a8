package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/raftfsm"
)

// secretsModel has protected settings of every level on every kind that carries them, and a
// repository with credentials in its URI. Each value names its level.
const secretsModel = `
repositories:
  - {id: repo-1, uri: "https://deploy:repo-pass-9@git.example.com/acme/drivers.git"}
drivers:
  - id: drv-1
    module_name: Display
    role: device
    repository_id: repo-1
    path: drivers/display
    protected_settings: [{level: support, settings: {drv_pin: "drv-support-41"}}]
zones:
  - id: zone-1
    name: Floor
    protected_settings: [{level: admin, settings: {zone_key: "zone-admin-42"}}]
systems:
  - id: sys-1
    name: Room
    modules: [mod-1]
    zones: [zone-1]
    protected_settings: [{level: never_displayed, settings: {sys_token: "sys-never-43"}}]
modules:
  - id: mod-1
    driver_id: drv-1
    settings: {input: hdmi1}
    protected_settings:
      - {level: support, settings: {pin: "mod-support-44"}}
      - {level: admin, settings: {password: "mod-admin-45"}}
      - {level: never_displayed, settings: {token: "mod-never-46"}}
`

var (
	supportValues = []string{"drv-support-41", "mod-support-44"}
	adminValues   = []string{"zone-admin-42", "mod-admin-45", "repo-pass-9"}
	neverValues   = []string{"sys-never-43", "mod-never-46"}
)

// secretsServer is the real handler over a real single-node Raft store (sealing with a key when
// withKey) and real API key authentication for a user, a support and an admin key.
func secretsServer(t *testing.T, withKey bool) (http.Handler, *raftfsm.Store, *model.Keyring) {
	t.Helper()
	var k *model.Keyring
	if withKey {
		k = testutil.Keyring(t)
	}
	store, err := raftfsm.Open(raftfsm.Config{NodeID: "n1", DataDir: t.TempDir(), RaftAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:1", Secrets: k})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the single node leads", store.IsLeader)
	keys, err := auth.ParseAPIKeys([]byte(`
- {key: "user-key-0123456789", user_id: u1, role: user}
- {key: "support-key-0123456789", user_id: s1, role: support}
- {key: "admin-key-0123456789", user_id: a1, role: admin}
`))
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Config{APIKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, func(cfg *Config) { cfg.Auth = authn; cfg.Models = store })
	return hs.h, store, k
}

func request(t *testing.T, h http.Handler, method, path, key, body string) (int, string) {
	t.Helper()
	hs := &harness{h: h}
	code, out, _ := hs.do(t, method, path, body, auth.APIKeyHeader, key)
	return code, out
}

// TestModelReadsRedactPerClearance reads every route that returns model entities as a user, a
// support and an admin: each sees the protected values its clearance reaches and the marker for
// the others, never a never_displayed value, and repository credentials only as an admin.
func TestModelReadsRedactPerClearance(t *testing.T) {
	t.Parallel()
	h, store, k := secretsServer(t, true)
	const admin = "admin-key-0123456789"
	if code, body := request(t, h, http.MethodPut, base+"/model", admin, jsonOf(t, secretsModel)); code != 200 {
		t.Fatalf("PUT /model: %d %s", code, body)
	}
	reads := []string{"/model", "/systems/sys-1/settings", "/modules/mod-1/settings", "/systems/sys-1/zones"}
	for _, kind := range model.Kinds {
		reads = append(reads, "/"+string(kind))
	}
	for path, id := range map[string]string{"/repositories/": "repo-1", "/drivers/": "drv-1", "/zones/": "zone-1", "/systems/": "sys-1", "/modules/": "mod-1"} {
		reads = append(reads, path+id, path+id+"?consistent=true")
	}
	roles := []struct {
		name, key string
		c         auth.Clearance
	}{
		{"user", "user-key-0123456789", auth.ClearanceUser},
		{"support", "support-key-0123456789", auth.ClearanceSupport},
		{"admin", admin, auth.ClearanceAdmin},
	}
	for _, role := range roles {
		t.Run(role.name, func(t *testing.T) {
			t.Parallel()
			for _, path := range reads {
				code, body := request(t, h, http.MethodGet, base+path, role.key, "")
				if code != 200 {
					t.Fatalf("GET %s: %d %s", path, code, body)
				}
				checkRedaction(t, "GET "+path, body, role.c)
			}
			// Writes echo the stored entity the same way (they need admin).
			if role.c < auth.ClearanceAdmin {
				return
			}
			mod := `{"id": "mod-1", "driver_id": "drv-1", "settings": {"input": "hdmi2"}, "protected_settings": [
				{"level": "support", "settings": {"pin": "mod-support-44"}},
				{"level": "admin", "settings": {"password": "mod-admin-45"}},
				{"level": "never_displayed", "settings": {"token": "mod-never-46"}}]}`
			code, body := request(t, h, http.MethodPut, base+"/modules/mod-1", role.key, mod)
			if code != 200 {
				t.Fatalf("PUT: %d %s", code, body)
			}
			checkRedaction(t, "PUT /modules/mod-1", body, role.c)
			zone := `{"id": "zone-2", "name": "Z2", "protected_settings": [{"level": "admin", "settings": {"zone_key": "zone-admin-42"}}, {"level": "never_displayed", "settings": {"x": "mod-never-46"}}]}`
			code, body = request(t, h, http.MethodPost, base+"/zones", role.key, zone)
			if code != 201 {
				t.Fatalf("POST: %d %s", code, body)
			}
			checkRedaction(t, "POST /zones", body, role.c)
		})
	}
	// Not parallel: it runs before the roles' subtests resume. The admin's rewrites mod-1 without
	// notes, and beside it the PATCH below once read its notes gone from its own answer.
	t.Run("round trip", func(t *testing.T) {
		// What an admin reads, written back as is, keeps the values the admin could not see.
		_, read := request(t, h, http.MethodGet, base+"/modules/mod-1", admin, "")
		if code, body := request(t, h, http.MethodPut, base+"/modules/mod-1", admin, read); code != 200 {
			t.Fatalf("PUT of what GET answered: %d %s", code, body)
		}
		m, _ := store.Model()
		merged, err := m.MergedSettings(m.Modules["mod-1"], k)
		if err != nil {
			t.Fatal(err)
		}
		if string(merged["token"]) != `"mod-never-46"` || string(merged["password"]) != `"mod-admin-45"` {
			t.Fatalf("after a round trip the module receives token %s, password %s", merged["token"], merged["password"])
		}
		// A PATCH starts from what the admin reads, so it keeps them too.
		code, body := request(t, h, http.MethodPatch, base+"/modules/mod-1", admin, `{"notes": "patched"}`)
		if code != 200 || !strings.Contains(body, `"notes":"patched"`) {
			t.Fatalf("PATCH: %d %s", code, body)
		}
		checkRedaction(t, "PATCH /modules/mod-1", body, auth.ClearanceAdmin)
		m, _ = store.Model()
		if merged, err = m.MergedSettings(m.Modules["mod-1"], k); err != nil || string(merged["token"]) != `"mod-never-46"` {
			t.Fatalf("after a PATCH the module receives token %s (%v)", merged["token"], err)
		}
	})
}

// checkRedaction asserts what a caller of clearance c may see in a response body.
func checkRedaction(t *testing.T, what, body string, c auth.Clearance) {
	t.Helper()
	for _, v := range neverValues {
		if strings.Contains(body, v) {
			t.Errorf("%s as %s: never_displayed value %q returned", what, c, v)
		}
	}
	for _, group := range []struct {
		values []string
		needs  auth.Clearance
	}{{supportValues, auth.ClearanceSupport}, {adminValues, auth.ClearanceAdmin}} {
		for _, v := range group.values {
			if c < group.needs && strings.Contains(body, v) {
				t.Errorf("%s as %s: %q returned", what, c, v)
			}
		}
	}
	if strings.Contains(body, `"sealed:v1:`) {
		t.Errorf("%s as %s: a sealed value returned: %s", what, c, body)
	}
	// Values hidden from the caller keep their keys, with the marker as the value.
	hidden := strings.Contains(body, `"never_displayed"`) || c == auth.ClearanceUser && strings.Contains(body, "protected_settings")
	if hidden && !strings.Contains(body, `":"`+model.RedactedValue+`"`) {
		t.Errorf("%s as %s: hidden protected settings without the redaction marker: %s", what, c, body)
	}
}

// TestProtectedSettingsRefusedWithoutAKey: a node without a secrets key refuses a write that
// carries protected settings with a 400 naming the missing key file, and stores nothing.
func TestProtectedSettingsRefusedWithoutAKey(t *testing.T) {
	t.Parallel()
	h, store, _ := secretsServer(t, false)
	const admin = "admin-key-0123456789"
	code, body := request(t, h, http.MethodPut, base+"/model", admin, jsonOf(t, secretsModel))
	if code != 400 || !strings.Contains(body, "--secrets-key-file") {
		t.Fatalf("PUT /model without a key: %d %s", code, body)
	}
	if m, _ := store.Model(); len(m.Modules) != 0 {
		t.Fatal("something was stored")
	}
	code, body = request(t, h, http.MethodPost, base+"/zones", admin, `{"id": "z", "name": "Z", "protected_settings": [{"level": "admin", "settings": {"k": "v"}}]}`)
	if code != 400 || !strings.Contains(body, "--secrets-key-file") {
		t.Fatalf("POST /zones without a key: %d %s", code, body)
	}
	// Bad levels are refused with the field named (sealing needs no key for an empty entry).
	code, body = request(t, h, http.MethodPost, base+"/zones", admin, `{"id": "z", "name": "Z", "protected_settings": [{"level": "secret", "settings": {}}]}`)
	if code != 400 || !strings.Contains(body, `protected_settings[0].level`) {
		t.Fatalf("unknown level: %d %s", code, body)
	}
	// Plain settings need no key.
	if code, body := request(t, h, http.MethodPost, base+"/zones", admin, `{"id": "z", "name": "Z", "settings": {"k": "v"}}`); code != 201 {
		t.Fatalf("plain settings without a key: %d %s", code, body)
	}
}

// jsonOf turns a YAML model into the JSON body PUT /model takes.
func jsonOf(t *testing.T, yaml string) string {
	t.Helper()
	f, err := model.ParseFile([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// laggingModels is a follower whose copy of the model does not show the writes the leader
// acknowledged (its disk is full, say), and whose barrier fails.
type laggingModels struct{ fuzzModels }

func (laggingModels) IsLeader() bool                           { return false }
func (laggingModels) Apply(context.Context, *model.File) error { return nil } // committed elsewhere
func (laggingModels) Barrier(context.Context) error            { return errors.New("the leader did not answer") }

// A write through a follower that the leader committed but that the follower's copy does not
// show within the wait is answered 202 with its id — not an error (the client would write again,
// and a POST would find its id taken), not the entity as it was, never a crash. A PATCH through
// such a follower is refused (503) before anything is written: it would merge into a stale copy.
func TestFollowerWriteNotVisibleYet(t *testing.T) {
	t.Parallel()
	store := model.NewMemory()
	f, err := model.ParseFile([]byte(fuzzModel))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, as(auth.ClearanceAdmin), func(cfg *Config) { cfg.Models = laggingModels{fuzzModels{store}} })
	code, body, _ := hs.do(t, "POST", "/api/engine/v2/zones", `{"id": "zone-new", "name": "Z"}`)
	if code != 202 || !strings.Contains(body, `"id":"zone-new"`) {
		t.Fatalf("POST through a lagging follower: %d %s", code, body)
	}
	code, body, _ = hs.do(t, "PUT", "/api/engine/v2/systems/sys-1", `{"id": "sys-1", "name": "Renamed", "modules": ["mod-1"]}`)
	if code != 202 || !strings.Contains(body, `"id":"sys-1"`) {
		t.Fatalf("PUT through a lagging follower: %d %s (not the entity as it was)", code, body)
	}
	code, body, _ = hs.do(t, "PATCH", "/api/engine/v2/systems/sys-1", `{"name": "Patched"}`)
	if code != 503 || !strings.Contains(body, "could not bring its copy of the model up to date") {
		t.Fatalf("PATCH through a lagging follower: %d %s", code, body)
	}
}
