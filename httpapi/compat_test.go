package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
)

// compatModel has enough entities to page through, two systems sharing a module, and modules
// with a device address of each form ping reads.
const compatModel = `{
  "repositories": [{"id": "repo-a", "name": "Drivers", "uri": "https://git.example.com/a.git"}],
  "drivers": [
    {"id": "drv-1", "name": "Display driver", "module_name": "Display", "role": "device", "binary": "/bin/display", "default_port": 4999},
    {"id": "drv-2", "module_name": "Room", "role": "logic", "binary": "/bin/room"}],
  "zones": [{"id": "zone-a", "name": "Alpha"}, {"id": "zone-b", "name": "Bravo"}, {"id": "zone-c", "name": "Charlie"},
    {"id": "zone-d", "name": "Delta"}, {"id": "zone-e", "name": "Echo"}],
  "modules": [
    {"id": "mod-1", "driver_id": "drv-1", "ip": "127.0.0.1", "port": %d, "running": true},
    {"id": "mod-2", "driver_id": "drv-1", "uri": "http://127.0.0.1:%d/", "running": true},
    {"id": "mod-3", "driver_id": "drv-1", "ip": "no-such-host.invalid", "running": true},
    {"id": "mod-l", "driver_id": "drv-2", "control_system_id": "sys-1", "running": true},
    {"id": "mod-x", "driver_id": "drv-1"}],
  "systems": [
    {"id": "sys-1", "name": "Lobby", "modules": ["mod-1", "mod-2", "mod-l"], "zones": ["zone-c", "zone-a"]},
    {"id": "sys-2", "name": "Board room", "modules": ["mod-2", "mod-3"]}]
}`

// compatHarness serves compatModel from an in-memory store as a caller of clearance c, with a
// listening port (mod-1's) and a closed one (mod-2's).
func compatHarness(t *testing.T, c auth.Clearance) (*harness, *model.Memory) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	_ = closed.Close()
	store := model.NewMemory()
	f, err := model.ParseFile([]byte(fmt.Sprintf(compatModel, ln.Addr().(*net.TCPAddr).Port, closedPort)))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	return newHarness(t, as(c), func(cfg *Config) { cfg.Models = fuzzModels{store} }), store
}

// TestCompatRoutesClearance: each route PlaceOS front-ends manage the engine with, as each role:
// reads for everyone, runtime control for support (load for admin), PATCH for admin — refused
// with 403 before anything is done.
func TestCompatRoutesClearance(t *testing.T) {
	t.Parallel()
	routes := []struct {
		method, path, body string
		needs              auth.Clearance
		ok                 int
	}{
		{http.MethodGet, "/systems/sys-1/zones", "", auth.ClearanceUser, 200},
		{http.MethodGet, "/systems/sys-1/settings", "", auth.ClearanceUser, 200},
		{http.MethodGet, "/modules/mod-1/settings", "", auth.ClearanceUser, 200},
		{http.MethodGet, "/zones?limit=2", "", auth.ClearanceUser, 200},
		{http.MethodPost, "/systems/sys-1/start", "", auth.ClearanceSupport, 200},
		{http.MethodPost, "/systems/sys-1/stop", "", auth.ClearanceSupport, 200},
		{http.MethodPost, "/modules/mod-1/ping", "", auth.ClearanceSupport, 200},
		{http.MethodPost, "/modules/mod-1/load", "", auth.ClearanceAdmin, 200},
		{http.MethodPatch, "/zones/zone-a", `{"name": "A"}`, auth.ClearanceAdmin, 200},
		{http.MethodPost, "/zones", `{"name": "New"}`, auth.ClearanceAdmin, 201},
	}
	for _, c := range []auth.Clearance{auth.ClearanceUser, auth.ClearanceSupport, auth.ClearanceAdmin} {
		hs, store := compatHarness(t, c)
		for _, rt := range routes {
			code, body, _ := hs.do(t, rt.method, base+rt.path, rt.body)
			want := rt.ok
			if c < rt.needs {
				want = http.StatusForbidden
			}
			if code != want {
				t.Errorf("%s: %s %s: %d %s, want %d", c, rt.method, rt.path, code, body, want)
			}
			if code == http.StatusForbidden && !strings.Contains(body, `"error":"access_denied"`) {
				t.Errorf("%s: %s %s: refusal %s", c, rt.method, rt.path, body)
			}
		}
		hs.eng.mu.Lock()
		started, stopped := len(hs.eng.started), len(hs.eng.stopped)
		hs.eng.mu.Unlock()
		m, _ := store.Model()
		if c == auth.ClearanceUser && (started+stopped != 0 || len(m.Zones) != 5 || m.Zones["zone-a"].Name != "Alpha") {
			t.Fatalf("a user's refused request acted: started %d, stopped %d, zones %v", started, stopped, m.Zones)
		}
	}
}

// TestListsPage: every list route pages as PlaceOS's: limit (default 100), offset, q over id and
// name, X-Total-Count, Content-Range, and a Link rel="next" while more remain, which a client
// follows to the end; bad values are a 400 naming the parameter.
func TestListsPage(t *testing.T) {
	t.Parallel()
	hs, _ := compatHarness(t, auth.ClearanceUser)
	link := regexp.MustCompile(`^<([^>]+)>; rel="next"$`)
	var ids []string
	next := base + "/zones?limit=2&q=*%20zone"
	for pages := 0; next != ""; pages++ {
		code, body, rec := hs.do(t, http.MethodGet, next, "")
		if code != 200 || rec.Header().Get("X-Total-Count") != "5" {
			t.Fatalf("GET %s: %d %s, X-Total-Count %q", next, code, body, rec.Header().Get("X-Total-Count"))
		}
		var page []model.Zone
		if err := json.Unmarshal([]byte(body), &page); err != nil || len(page) == 0 || len(page) > 2 {
			t.Fatalf("GET %s: page %s (%v)", next, body, err)
		}
		for _, z := range page {
			ids = append(ids, z.ID)
		}
		want := fmt.Sprintf("zones %d-%d/5", 2*pages, 2*pages+len(page))
		if got := rec.Header().Get("Content-Range"); got != want {
			t.Errorf("GET %s: Content-Range %q, want %q", next, got, want)
		}
		next = ""
		if l := rec.Header().Get("Link"); l != "" {
			mm := link.FindStringSubmatch(l)
			// ts-client decodes the link's query with decodeURIComponent, which keeps a "+".
			if mm == nil || !strings.Contains(mm[1], "q=%2A%20zone") {
				t.Fatalf("Link %q", l)
			}
			next = mm[1]
		}
		if pages > 3 {
			t.Fatal("the Link never ends")
		}
	}
	if strings.Join(ids, ",") != "zone-a,zone-b,zone-c,zone-d,zone-e" {
		t.Fatalf("following Link gave %v", ids)
	}

	lists := []struct {
		path, total, first string
	}{
		{"/repositories?q=drivers", "1", "repo-a"},
		{"/drivers?q=DISPLAY", "1", "drv-1"},
		{"/drivers?repository_id=repo-a", "0", ""},
		{"/modules?q=room", "1", "mod-l"},
		{"/modules?control_system_id=sys-1", "3", "mod-1"},
		{"/modules?driver_id=drv-2", "1", "mod-l"},
		{"/systems?q=board", "1", "sys-2"},
		{"/systems?zone_id=zone-a", "1", "sys-1"},
		{"/systems?module_id=mod-2", "2", "sys-1"},
		{"/systems/sys-1/zones", "2", "zone-c"},
		{"/systems/sys-1/zones?q=alp", "1", "zone-a"},
		{"/zones?q=ha+AR", "1", "zone-c"},
		{"/zones?offset=4000000000", "5", ""},
		{"/zones?limit=0", "5", ""},
	}
	for _, l := range lists {
		code, body, rec := hs.do(t, http.MethodGet, base+l.path, "")
		var page []struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal([]byte(body), &page)
		first := ""
		if len(page) > 0 {
			first = page[0].ID
		}
		if code != 200 || rec.Header().Get("X-Total-Count") != l.total || first != l.first {
			t.Errorf("GET %s: %d %s, X-Total-Count %q; want %s first %q", l.path, code, body, rec.Header().Get("X-Total-Count"), l.total, l.first)
		}
		if l.path == "/zones?limit=0" && rec.Header().Get("Link") != "" {
			t.Errorf("limit=0 has a next link, which never advances")
		}
	}
	if _, _, rec := hs.do(t, http.MethodGet, base+"/zones?limit=20000", ""); rec.Header().Get("X-Total-Count") != "5" {
		t.Errorf("a limit above the maximum is lowered, not refused: %d", rec.Code)
	}

	for bad, param := range map[string]string{"/zones?limit=-1": "limit", "/zones?limit=abc": "limit", "/zones?offset=99999999999": "offset",
		"/systems?offset=1.5": "offset", "/systems/sys-1/zones?limit=x": "limit"} {
		code, body, _ := hs.do(t, http.MethodGet, base+bad, "")
		if code != 400 || !strings.Contains(body, `"error":"bad_request"`) || !strings.Contains(body, param+` \"`) {
			t.Errorf("GET %s: %d %s, want 400 naming %s", bad, code, body, param)
		}
	}
	for _, missing := range []string{"/modules?control_system_id=sys-nope", "/systems/sys-nope/zones"} {
		if code, body, _ := hs.do(t, http.MethodGet, base+missing, ""); code != 404 {
			t.Errorf("GET %s: %d %s, want 404", missing, code, body)
		}
	}
}

// TestPatchChangesOnlyWhatIsSent: PATCH changes the fields sent, null removes one, the rest stay;
// an unknown field is refused as PUT refuses it; the id cannot change.
func TestPatchChangesOnlyWhatIsSent(t *testing.T) {
	t.Parallel()
	hs, store := compatHarness(t, auth.ClearanceAdmin)
	code, body, _ := hs.do(t, http.MethodPatch, base+"/modules/mod-1", `{"notes": "lobby screen", "port": null, "custom_name": "Screen"}`)
	if code != 200 {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	m, _ := store.Model()
	mod := m.Modules["mod-1"]
	if mod.Notes != "lobby screen" || mod.CustomName != "Screen" || mod.Port != 0 || mod.IP != "127.0.0.1" || !mod.Running || mod.DriverID != "drv-1" {
		t.Fatalf("after PATCH: %+v", mod)
	}
	if !strings.Contains(body, `"notes":"lobby screen"`) {
		t.Fatalf("PATCH answered %s", body)
	}
	_, putErr, _ := hs.do(t, http.MethodPut, base+"/zones/zone-a", `{"id": "zone-a", "nmae": "x"}`)
	refusals := []struct {
		path, body string
		status     int
		contains   string
	}{
		{"/zones/zone-a", `{"nmae": "x"}`, 400, putErr},
		{"/zones/zone-a", `{"id": "zone-b"}`, 400, "cannot be changed"},
		{"/zones/zone-a", `["name"]`, 400, "a PATCH body is a JSON object"},
		{"/zones/zone-a", `{"name": `, 400, `"error":"parse_error"`},
		{"/zones/zone-nope", `{"name": "x"}`, 404, `"error":"not_found"`},
		{"/modules/mod-1", `{"driver_id": "drv-nope"}`, 400, `driver_id: no driver \"drv-nope\"`},
	}
	for _, r := range refusals {
		code, body, _ := hs.do(t, http.MethodPatch, base+r.path, r.body)
		if code != r.status || !strings.Contains(body, r.contains) {
			t.Errorf("PATCH %s %s: %d %s; want %d with %s", r.path, r.body, code, body, r.status, r.contains)
		}
	}
	m, _ = store.Model()
	if m.Zones["zone-a"].Name != "Alpha" || m.Modules["mod-1"].DriverID != "drv-1" {
		t.Fatal("a refused PATCH changed the model")
	}
}

// TestCreateAssignsID: a create without an id gets one in PlaceOS's shape for its kind and
// answers 201 with the entity; an id given is kept.
func TestCreateAssignsID(t *testing.T) {
	t.Parallel()
	hs, store := compatHarness(t, auth.ClearanceAdmin)
	for kind, c := range map[string]struct{ body, prefix string }{
		"repositories": {`{"uri": "https://git.example.com/b.git"}`, "repo-"},
		"drivers":      {`{"id": null, "module_name": "X", "role": "service", "binary": "/bin/x"}`, "driver-"},
		"zones":        {`{"id": "", "name": "Level 2"}`, "zone-"},
		"systems":      {`{"name": "Room 2", "zones": ["zone-a"], "modules": []}`, "sys-"},
		"modules":      {`{"driver_id": "drv-1", "ip": "10.0.0.9"}`, "mod-"},
	} {
		code, body, _ := hs.do(t, http.MethodPost, base+"/"+kind, c.body)
		var got struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal([]byte(body), &got)
		if code != 201 || !regexp.MustCompile(`^`+c.prefix+`[0-9A-Za-z]{10}$`).MatchString(got.ID) {
			t.Errorf("POST /%s: %d %s", kind, code, body)
			continue
		}
		if m, _ := store.Model(); !m.Has(model.Kind(kind), got.ID) {
			t.Errorf("POST /%s: %s not stored", kind, got.ID)
		}
	}
	if code, body, _ := hs.do(t, http.MethodPost, base+"/zones", `{"id": "zone-mine", "name": "Mine"}`); code != 201 || !strings.Contains(body, `"id":"zone-mine"`) {
		t.Fatalf("a given id: %d %s", code, body)
	}
	if code, body, _ := hs.do(t, http.MethodPost, base+"/zones", `{"name": "x", "bogus": 1}`); code != 400 || !strings.Contains(body, "bogus") {
		t.Fatalf("a bad body still refused: %d %s", code, body)
	}
}

// TestSystemStartStopAndModuleRuntime: system start/stop go through the module start/stop path
// for each module the system alone lists (all of them with single_occurrence=false); ping
// connects to the device; load starts a running module only.
func TestSystemStartStopAndModuleRuntime(t *testing.T) {
	t.Parallel()
	hs, _ := compatHarness(t, auth.ClearanceAdmin)
	taken := func() (started, stopped []string) {
		hs.eng.mu.Lock()
		defer hs.eng.mu.Unlock()
		started, stopped = hs.eng.started, hs.eng.stopped
		hs.eng.started, hs.eng.stopped = nil, nil
		return started, stopped
	}
	sorted := func(s []string) string { return strings.Join(slices.Sorted(slices.Values(s)), ",") }
	if code, body, _ := hs.do(t, http.MethodPost, base+"/systems/sys-1/stop", ""); code != 200 || body != "" {
		t.Fatalf("stop: %d %q", code, body)
	}
	if _, stopped := taken(); sorted(stopped) != "mod-1,mod-l" {
		t.Fatalf("system stop stopped %v (mod-2 is in sys-2 too)", stopped)
	}
	if code, body, _ := hs.do(t, http.MethodPost, base+"/systems/sys-1/start?single_occurrence=false", ""); code != 200 {
		t.Fatalf("start: %d %s", code, body)
	}
	if started, _ := taken(); sorted(started) != "mod-1,mod-2,mod-l" {
		t.Fatalf("system start with single_occurrence=false started %v", started)
	}
	for path, want := range map[string]int{"/systems/sys-nope/start": 404, "/systems/sys-1/stop?single_occurrence=maybe": 400} {
		if code, body, _ := hs.do(t, http.MethodPost, base+path, ""); code != want {
			t.Errorf("%s: %d %s, want %d", path, code, body, want)
		}
	}

	pings := []struct {
		id, want string
		status   int
	}{
		{"mod-1", `{"host":"127.0.0.1","pingable":true,"warning":null,"exception":null}`, 200},
		{"mod-2", `"pingable":true,"warning":"port `, 200},
		{"mod-3", `"pingable":false,"warning":null,"exception":"could not resolve no-such-host.invalid`, 200},
		{"mod-l", `ping not supported for module role: logic`, 400},
		{"mod-nope", `"error":"module_not_found"`, 404},
	}
	for _, p := range pings {
		code, body, _ := hs.do(t, http.MethodPost, base+"/modules/"+p.id+"/ping", "")
		if code != p.status || !strings.Contains(body, p.want) {
			t.Errorf("ping %s: %d %s; want %d with %s", p.id, code, body, p.status, p.want)
		}
	}

	for id, want := range map[string]string{"mod-1": "mod-1", "mod-x": ""} {
		code, body, _ := hs.do(t, http.MethodPost, base+"/modules/"+id+"/load", "")
		if started, _ := taken(); code != 200 || body != "true" || strings.Join(started, ",") != want {
			t.Errorf("load %s: %d %s, started %v", id, code, body, started)
		}
	}
	if code, _, _ := hs.do(t, http.MethodPost, base+"/modules/mod-nope/load", ""); code != 404 {
		t.Errorf("load of an unknown module: %d", code)
	}
}

// TestSettingsObjects: the settings routes answer one PlaceOS settings object per level that
// holds settings, in precedence order, each value the caller's clearance reaches opened and the
// others "[redacted]" with their keys listed.
func TestSettingsObjects(t *testing.T) {
	t.Parallel()
	h, _, _ := secretsServer(t, true)
	const admin, support = "admin-key-0123456789", "support-key-0123456789"
	if code, body := request(t, h, http.MethodPut, base+"/model", admin, jsonOf(t, secretsModel)); code != 200 {
		t.Fatalf("PUT /model: %d %s", code, body)
	}
	read := func(path, key string) []settingsObject {
		code, body := request(t, h, http.MethodGet, base+path, key, "")
		var out []settingsObject
		if err := json.Unmarshal([]byte(body), &out); code != 200 || err != nil {
			t.Fatalf("GET %s: %d %s (%v)", path, code, body, err)
		}
		return out
	}
	mod := read("/modules/mod-1/settings", support)
	want := []struct {
		parent, typ string
		level       int
		settings    string
	}{
		{"mod-1", "Module", 3, `{"token":"[redacted]"}`},
		{"mod-1", "Module", 2, `{"password":"[redacted]"}`},
		{"mod-1", "Module", 1, `{"pin":"mod-support-44"}`},
		{"mod-1", "Module", 0, `{"input":"hdmi1"}`},
		{"drv-1", "Driver", 1, `{"drv_pin":"drv-support-41"}`},
	}
	if len(mod) != len(want) {
		t.Fatalf("module settings: %+v", mod)
	}
	for i, w := range want {
		o := mod[i]
		if o.ParentID != w.parent || o.ParentType != w.typ || o.EncryptionLevel != w.level || o.SettingsString != w.settings || o.SettingsID != nil || len(o.Keys) != 1 || o.ID == "" {
			t.Errorf("module settings[%d] = %+v, want %+v", i, o, w)
		}
	}
	sys := read("/systems/sys-1/settings", admin)
	if len(sys) != 2 || sys[0].ParentType != "ControlSystem" || sys[0].SettingsString != `{"sys_token":"[redacted]"}` ||
		sys[1].ParentType != "Zone" || sys[1].SettingsString != `{"zone_key":"zone-admin-42"}` {
		t.Fatalf("system settings as admin: %+v", sys)
	}
	if code, body := request(t, h, http.MethodGet, base+"/modules/mod-nope/settings", admin, ""); code != 404 || !strings.Contains(body, "module_not_found") {
		t.Fatalf("settings of an unknown module: %d %s", code, body)
	}
	if code, body := request(t, h, http.MethodGet, base+"/systems/sys-nope/settings", admin, ""); code != 404 || !strings.Contains(body, "system_not_found") {
		t.Fatalf("settings of an unknown system: %d %s", code, body)
	}
}

// TestModuleReadsRuntimeFields: module reads carry PlaceOS's read-only runtime fields, lists
// (and ?complete=true) the module's driver and a logic module's system; a PUT or PATCH of the
// object read round-trips (those fields ignored, nothing else); other unknown fields and wrong
// types stay refused.
func TestModuleReadsRuntimeFields(t *testing.T) {
	t.Parallel()
	hs, store := compatHarness(t, auth.ClearanceAdmin)
	hs.eng.mu.Lock()
	hs.eng.failing = map[string]int64{"mod-1": 1_700_000_000}
	hs.eng.state["mod-2"] = map[string]string{"connected": "false"}
	hs.eng.mu.Unlock()

	type read struct {
		ID              string          `json:"id"`
		CoreNode        string          `json:"core_node"`
		Connected       *bool           `json:"connected"`
		HasRuntimeError *bool           `json:"has_runtime_error"`
		ErrorTimestamp  *int64          `json:"error_timestamp"`
		Driver          json.RawMessage `json:"driver"`
		ControlSystem   json.RawMessage `json:"control_system"`
	}
	get := func(path string, into any) string {
		t.Helper()
		code, body, _ := hs.do(t, http.MethodGet, base+path, "")
		if code != 200 || json.Unmarshal([]byte(body), into) != nil {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		return body
	}
	var one read
	raw := get("/modules/mod-1", &one)
	if one.CoreNode != "node-1" || one.Connected == nil || !*one.Connected || one.HasRuntimeError == nil || !*one.HasRuntimeError ||
		one.ErrorTimestamp == nil || *one.ErrorTimestamp != 1_700_000_000 || one.Driver != nil || one.ControlSystem != nil {
		t.Fatalf("GET /modules/mod-1: %s", raw)
	}
	get("/modules/mod-1?complete=true", &one)
	if string(one.Driver) != `{"id":"drv-1","name":"Display driver","module_name":"Display","role":"device"}` {
		t.Fatalf("complete: driver %s", one.Driver)
	}
	var logic read
	get("/modules/mod-l?complete=true", &logic)
	var sys struct {
		ID, Name string
		ZoneData []struct{ ID string } `json:"zone_data"`
	}
	if json.Unmarshal(logic.ControlSystem, &sys) != nil || sys.ID != "sys-1" || sys.Name != "Lobby" || len(sys.ZoneData) != 2 || sys.ZoneData[0].ID != "zone-c" {
		t.Fatalf("logic module's control_system: %s", logic.ControlSystem)
	}

	var list []read
	raw = get("/modules?limit=100", &list)
	byID := map[string]read{}
	for _, m := range list {
		byID[m.ID] = m
		if m.Driver == nil || m.HasRuntimeError == nil || m.Connected == nil || !strings.Contains(raw, `"error_timestamp":null`) {
			t.Fatalf("list item %s lacks a field: %s", m.ID, raw)
		}
	}
	if !*byID["mod-1"].HasRuntimeError || *byID["mod-2"].HasRuntimeError || *byID["mod-2"].Connected ||
		byID["mod-l"].ControlSystem == nil || byID["mod-1"].ControlSystem != nil {
		t.Fatalf("list: %s", raw)
	}

	// A front-end sends back what it read: accepted, the read-only fields ignored.
	before, _ := store.Model()
	code, complete, _ := hs.do(t, http.MethodGet, base+"/modules/mod-l?complete=true", "")
	if code != 200 {
		t.Fatal(complete)
	}
	for _, method := range []string{http.MethodPut, http.MethodPatch} {
		if code, body, _ := hs.do(t, method, base+"/modules/mod-l", complete); code != 200 || !strings.Contains(body, `"has_runtime_error":false`) {
			t.Fatalf("%s of the object read: %d %s", method, code, body)
		}
	}
	after, _ := store.Model()
	if b, a := before.Modules["mod-l"], after.Modules["mod-l"]; b.ControlSystemID != a.ControlSystemID || b.DriverID != a.DriverID || a.Running != b.Running {
		t.Fatalf("the round trip changed the module: %+v -> %+v", b, a)
	}
	refusals := []struct{ method, path, body, contains string }{
		{http.MethodPut, "/modules/mod-1", `{"id": "mod-1", "driver_id": "drv-1", "connected": true, "bogus": 1}`, "bogus"},
		{http.MethodPatch, "/modules/mod-1", `{"has_runtime_error": false, "nmae": "x"}`, "nmae"},
		// The read-only names are a module's: other kinds refuse them as any unknown field.
		{http.MethodPatch, "/zones/zone-a", `{"connected": true}`, "connected"},
		// A number or a boolean is not a string: refused as PlaceOS refuses it (not "7").
		{http.MethodPatch, "/zones/zone-a", `{"name": 7}`, `field \"zones.name\": want a string, not a JSON number`},
		{http.MethodPut, "/zones/zone-a", `{"id": "zone-a", "name": true}`, `field \"zones.name\": want a string, not a JSON bool`},
		{http.MethodPost, "/systems", `{"name": 7, "modules": []}`, `field \"systems.name\": want a string, not a JSON number`},
		{http.MethodPatch, "/modules/mod-1", `{"custom_name": 7}`, `field \"modules.custom_name\": want a string, not a JSON number`},
	}
	for _, r := range refusals {
		code, body, _ := hs.do(t, r.method, base+r.path, r.body)
		if code != 400 || !strings.Contains(body, r.contains) || !strings.Contains(body, `"error":"bad_request"`) {
			t.Errorf("%s %s %s: %d %s; want 400 naming %s", r.method, r.path, r.body, code, body, r.contains)
		}
	}
	if m, _ := store.Model(); m.Zones["zone-a"].Name != "Alpha" {
		t.Fatal("a refused write changed the zone")
	}
}

// Without Redis the runtime fields cannot be read, but the entities are in the model: a module
// read, and the answer to a write (done all the same), leave the fields out rather than fail.
func TestModuleRuntimeUnavailable(t *testing.T) {
	t.Parallel()
	hs, store := compatHarness(t, auth.ClearanceAdmin)
	hs.eng.mu.Lock()
	hs.eng.rtErr = errkind.New(errkind.Unavailable, "redis unavailable")
	hs.eng.mu.Unlock()
	for _, path := range []string{"/modules/mod-1", "/modules"} {
		if code, body, _ := hs.do(t, http.MethodGet, base+path, ""); code != 200 || !strings.Contains(body, `"id":"mod-1"`) ||
			strings.Contains(body, "has_runtime_error") || strings.Contains(body, "core_node") {
			t.Errorf("GET %s: %d %s; want 200, the module without its runtime fields", path, code, body)
		}
	}
	code, body, _ := hs.do(t, http.MethodPatch, base+"/modules/mod-1", `{"notes": "written"}`)
	if code != 200 || !strings.Contains(body, `"notes":"written"`) || strings.Contains(body, "has_runtime_error") {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	if m, _ := store.Model(); m.Modules["mod-1"].Notes != "written" {
		t.Fatal("the PATCH was not stored")
	}
	if code, body, _ := hs.do(t, http.MethodGet, base+"/zones/zone-a", ""); code != 200 {
		t.Fatalf("a zone read needs no Redis: %d %s", code, body)
	}
}
