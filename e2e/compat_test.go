package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// compatEngine runs the display (against a simulator) and room example drivers behind --auth keys
// with a secrets key, with settings at every level of the hierarchy.
func compatEngine(t *testing.T) *enginetest.Node {
	t.Helper()
	redis := testutil.StartRedis(t)
	sim := startDisplaySim(t)
	display := testutil.BuildBinary(t, "./examples/drivers/display")
	room := testutil.BuildBinary(t, "./examples/drivers/room")
	model := fmt.Sprintf(`
drivers:
  - id: drv-display
    name: Display driver
    module_name: Display
    role: device
    binary: %q
    protected_settings: [{level: support, settings: {service_pin: "drv-support-71"}}]
  - {id: drv-room, module_name: Room, role: logic, binary: %q}
zones:
  - {id: zone-1, name: Level 1, settings: {site: hq}, protected_settings: [{level: admin, settings: {site_key: "zone-admin-72"}}]}
modules:
  - {id: mod-display, driver_id: drv-display, ip: 127.0.0.1, port: %d, running: true, notes: lobby screen, settings: {input: hdmi1}}
  - {id: mod-room, driver_id: drv-room, control_system_id: sys-1, running: true}
systems:
  - {id: sys-1, name: Lobby, modules: [mod-display, mod-room], zones: [zone-1], settings: {greeting: hello}}
`, display, room, sim.Port())
	e := enginetest.StartEngine(t, config(redis.URL), "compat", model,
		"--auth", "keys", "--api-keys", apiKeysFile(t), "--secrets-key-file", enginetest.SecretsKeyFile(t))
	e.Eventually(20*time.Second, "display connected", func() bool {
		return e.Do("GET", "/api/engine/v2/systems/sys-1/Display_1/connected", "", enginetest.APIKey(userKey)).Body == "true"
	})
	return e
}

// compatCall is one request a PlaceOS front-end (ts-client) sends and the answer it relies on.
type compatCall struct {
	client             string // the ts-client function
	key, method, path  string
	body               string
	status             int
	shape              map[string]string // top-level field -> JSON type; "[]" + type for an array of objects with those fields
	contains, excludes []string
}

// TestPlaceOSManagementCompat drives every route a PlaceOS front-end manages and controls the
// engine with (issue 17's list and the ones that worked before), on a real engine with real
// drivers, and checks the request and response shapes of the PlaceOS reference: status, field
// names and JSON types, and the headers clients read (X-Request-ID, X-Total-Count, Link).
func TestPlaceOSManagementCompat(t *testing.T) {
	t.Parallel()
	e := compatEngine(t)
	api := "/api/engine/v2"
	module := map[string]string{"id": "string", "driver_id": "string", "running": "boolean"}
	runtimeModule := map[string]string{"id": "string", "driver_id": "string", "running": "boolean",
		"core_node": "string", "connected": "boolean", "has_runtime_error": "boolean", "error_timestamp": "null"}
	system := map[string]string{"id": "string", "name": "string", "modules": "array"}
	zone := map[string]string{"id": "string", "name": "string"}
	settings := map[string]string{"id": "string", "parent_id": "string", "parent_type": "string", "encryption_level": "number",
		"settings_string": "string", "keys": "array", "settings_id": "null"}
	calls := []compatCall{
		// Control, as before.
		{"executeOnSystem", userKey, "POST", api + "/systems/sys-1/Display_1/power", "[true]", 200, nil, []string{"true"}, nil},
		{"systemModuleState", supportKey, "GET", api + "/systems/sys-1/Display_1", "", 200, map[string]string{"power": "string", "connected": "string"}, []string{`"power":"true"`}, nil},
		{"lookupSystemModuleState", supportKey, "GET", api + "/systems/sys-1/Display_1/power", "", 200, nil, []string{"true"}, nil},
		{"functionList", supportKey, "GET", api + "/systems/sys-1/functions/Display_1", "", 200, map[string]string{"power": "object", "reboot": "object"}, []string{`"arity":`, `"order":["state"]`}, nil},
		{"showSystem", userKey, "GET", api + "/systems/sys-1", "", 200, system, []string{`"zones":["zone-1"]`}, nil},
		{"queryModules", supportKey, "GET", api + "/modules", "", 200, map[string]string{"[]": "", "id": "string", "driver_id": "string"}, nil, nil},
		{"showModule", supportKey, "GET", api + "/modules/mod-display", "", 200, runtimeModule, []string{`"notes":"lobby screen"`, `"connected":true`, `"has_runtime_error":false`}, nil},
		// A list shows each module's driver and a logic module's system with its zones, whose
		// protected settings stay redacted for a user.
		{"queryModules", userKey, "GET", api + "/modules", "", 200, withArray(runtimeModule), []string{`"driver":{"id":"drv-room","name":"","module_name":"Room","role":"logic"}`, `"control_system":{"id":"sys-1","name":"Lobby","zone_data":[{"id":"zone-1"`, `"site_key":"[redacted]"`}, []string{"zone-admin-72"}},
		{"moduleState", supportKey, "GET", api + "/modules/mod-display/state", "", 200, map[string]string{"power": "string"}, nil, nil},
		{"executeOnModule", adminKey, "POST", api + "/modules/mod-display/exec/volume", "[30]", 200, nil, []string{"30"}, nil},
		{"stopModule", supportKey, "POST", api + "/modules/mod-display/stop", "", 200, nil, nil, nil},
		{"startModule", supportKey, "POST", api + "/modules/mod-display/start", "", 200, nil, nil, nil},
		{"listSystemZones", userKey, "GET", api + "/systems/sys-1/zones", "", 200, map[string]string{"[]": "", "id": "string", "name": "string"}, []string{"Level 1"}, nil},
		// Management.
		{"moduleSettings", userKey, "GET", api + "/modules/mod-display/settings", "", 200, withArray(settings), []string{`"parent_type":"Module"`, `"parent_type":"Driver"`, `service_pin\":\"[redacted]`}, []string{"drv-support-71"}},
		{"moduleSettings", supportKey, "GET", api + "/modules/mod-display/settings", "", 200, withArray(settings), []string{"drv-support-71", `input\":\"hdmi1`}, nil},
		{"moduleSettings", adminKey, "GET", api + "/modules/mod-room/settings", "", 200, withArray(settings), []string{`"parent_type":"ControlSystem"`, `"parent_type":"Zone"`, "zone-admin-72"}, nil},
		{"systemSettings", supportKey, "GET", api + "/systems/sys-1/settings", "", 200, withArray(settings), []string{`greeting\":\"hello`, `site\":\"hq`, `site_key\":\"[redacted]`}, []string{"zone-admin-72"}},
		{"updateModule", adminKey, "PATCH", api + "/modules/mod-display?version=0", `{"notes": "patched"}`, 200, module, []string{`"notes":"patched"`, `"ip":"127.0.0.1"`, `"running":true`}, nil},
		{"updateModule", adminKey, "PATCH", api + "/modules/mod-display", `{"nmae": "x"}`, 400, nil, []string{"nmae"}, nil},
		{"updateModule", supportKey, "PATCH", api + "/modules/mod-display", `{"notes": "x"}`, 403, nil, nil, nil},
		{"updateZone", adminKey, "PATCH", api + "/zones/zone-1", `{"description": "first floor"}`, 200, zone, []string{`"name":"Level 1"`, "first floor"}, nil},
		{"stopSystem", userKey, "POST", api + "/systems/sys-1/stop", "", 403, nil, nil, nil},
		{"pingModule", supportKey, "POST", api + "/modules/mod-display/ping", "", 200, map[string]string{"host": "string", "pingable": "boolean", "warning": "null", "exception": "null"}, []string{`"pingable":true`}, nil},
		{"pingModule", supportKey, "POST", api + "/modules/mod-room/ping", "", 400, nil, []string{"logic"}, nil},
		{"pingModule", userKey, "POST", api + "/modules/mod-display/ping", "", 403, nil, nil, nil},
		{"loadModule", adminKey, "POST", api + "/modules/mod-display/load", "", 200, nil, []string{"true"}, nil},
		{"loadModule", supportKey, "POST", api + "/modules/mod-display/load", "", 403, nil, nil, nil},
	}
	for i, c := range calls {
		checkCompat(t, e, c, fmt.Sprintf("compat-%d", i))
	}

	// startSystem / stopSystem: every module of the system, through the module start/stop path.
	checkCompat(t, e, compatCall{"stopSystem", supportKey, "POST", api + "/systems/sys-1/stop", "", 200, nil, nil, nil}, "stop")
	if r := e.Do("POST", api+"/systems/sys-1/Display_1/power", "[true]", enginetest.APIKey(userKey)); r.Status != 503 {
		t.Fatalf("execute after stopSystem: %d %s", r.Status, r.Body)
	}
	for _, id := range []string{"mod-display", "mod-room"} {
		if r := e.Do("GET", api+"/modules/"+id, "", enginetest.APIKey(userKey)); !strings.Contains(r.Body, `"running":false`) {
			t.Fatalf("%s after stopSystem: %s", id, r.Body)
		}
	}
	checkCompat(t, e, compatCall{"startSystem", supportKey, "POST", api + "/systems/sys-1/start", "", 200, nil, nil, nil}, "start")
	// The start waits for the modules this node owns: they answer at once.
	if r := e.Do("POST", api+"/systems/sys-1/Room_1/power", `[false]`, enginetest.APIKey(userKey)); r.Status != 200 {
		t.Fatalf("execute after startSystem: %d %s", r.Status, r.Body)
	}

	// addSystem without an id, then querySystems page by page.
	var created []string
	for _, name := range []string{"Board room", "Studio", "Kitchen"} {
		r := checkCompat(t, e, compatCall{"addSystem", adminKey, "POST", api + "/systems", `{"name": "` + name + `", "zones": ["zone-1"]}`, 201, system, []string{name}, nil}, "add")
		var s struct{ ID string }
		_ = json.Unmarshal([]byte(r.Body), &s)
		if !regexp.MustCompile(`^sys-[0-9A-Za-z]{10}$`).MatchString(s.ID) {
			t.Fatalf("addSystem assigned id %q", s.ID)
		}
		created = append(created, s.ID)
	}
	link := regexp.MustCompile(`^<([^>]+)>; rel="next"$`)
	seen := map[string]bool{}
	next := api + "/systems?limit=3&zone_id=zone-1"
	for pages := 0; next != ""; pages++ {
		r := checkCompat(t, e, compatCall{"querySystems", userKey, "GET", next, "", 200, withArray(system), nil, nil}, "query")
		if r.Header.Get("X-Total-Count") != "4" {
			t.Fatalf("querySystems: X-Total-Count %q", r.Header.Get("X-Total-Count"))
		}
		var page []struct{ ID string }
		_ = json.Unmarshal([]byte(r.Body), &page)
		for _, s := range page {
			seen[s.ID] = true
		}
		next = ""
		if m := link.FindStringSubmatch(r.Header.Get("Link")); m != nil {
			next = m[1]
		}
		if pages > 2 {
			t.Fatal("Link never ends")
		}
	}
	if len(seen) != 4 || !seen["sys-1"] || !seen[created[0]] || !seen[created[2]] {
		t.Fatalf("following Link gave %v", seen)
	}
	r := checkCompat(t, e, compatCall{"querySystems", userKey, "GET", api + "/systems?q=BOARD", "", 200, withArray(system), []string{"Board room"}, []string{"Lobby"}}, "q")
	if r.Header.Get("X-Total-Count") != "1" || r.Header.Get("Link") != "" {
		t.Fatalf("q=BOARD: X-Total-Count %q, Link %q", r.Header.Get("X-Total-Count"), r.Header.Get("Link"))
	}
	for _, bad := range []string{"limit=-1", "limit=abc", "offset=99999999999"} {
		checkCompat(t, e, compatCall{"querySystems", userKey, "GET", api + "/systems?" + bad, "", 400, nil, []string{`"error":"bad_request"`, strings.Split(bad, "=")[0]}, nil}, "bad")
	}
	for _, kind := range []string{"repositories", "drivers", "modules", "zones"} {
		r := checkCompat(t, e, compatCall{"query " + kind, userKey, "GET", api + "/" + kind + "?limit=1", "", 200, nil, nil, nil}, "list")
		if r.Header.Get("X-Total-Count") == "" || r.Header.Get("Content-Range") == "" {
			t.Errorf("GET /%s: no X-Total-Count or Content-Range", kind)
		}
	}
}

// withArray marks a shape as that of every object of an array.
func withArray(fields map[string]string) map[string]string {
	out := map[string]string{"[]": ""}
	for k, v := range fields {
		out[k] = v
	}
	return out
}

// checkCompat sends c with a request id and checks the answer: status, the request id echoed,
// field types, substrings that must and must not appear.
func checkCompat(t *testing.T, e *enginetest.Node, c compatCall, reqID string) enginetest.Response {
	t.Helper()
	r := e.Do(c.method, c.path, c.body, enginetest.APIKey(c.key), enginetest.RequestID(reqID))
	what := fmt.Sprintf("%s (%s %s)", c.client, c.method, c.path)
	if r.Status != c.status {
		t.Fatalf("%s: %d %s, want %d", what, r.Status, r.Body, c.status)
	}
	if got := r.Header.Get("X-Request-ID"); got != reqID {
		t.Errorf("%s: X-Request-ID %q, want %q", what, got, reqID)
	}
	if c.status == 403 && r.Body != "" && !strings.Contains(r.Body, `"error":"access_denied"`) {
		t.Errorf("%s: refusal %s", what, r.Body)
	}
	for _, s := range c.contains {
		if !strings.Contains(r.Body, s) {
			t.Errorf("%s: %s does not contain %s", what, r.Body, s)
		}
	}
	for _, s := range c.excludes {
		if strings.Contains(r.Body, s) {
			t.Errorf("%s: %s contains %s", what, r.Body, s)
		}
	}
	if c.shape == nil {
		return r
	}
	var objects []map[string]any
	if _, isArray := c.shape["[]"]; isArray {
		if err := json.Unmarshal([]byte(r.Body), &objects); err != nil || len(objects) == 0 {
			t.Fatalf("%s: not a non-empty array of objects: %s (%v)", what, r.Body, err)
		}
	} else {
		var obj map[string]any
		if err := json.Unmarshal([]byte(r.Body), &obj); err != nil {
			t.Fatalf("%s: not an object: %s (%v)", what, r.Body, err)
		}
		objects = []map[string]any{obj}
	}
	for _, obj := range objects {
		for field, typ := range c.shape {
			if field == "[]" {
				continue
			}
			v, ok := obj[field]
			if !ok {
				t.Errorf("%s: field %s missing in %v", what, field, obj)
				continue
			}
			if got := jsonType(v); got != typ {
				t.Errorf("%s: field %s is %s, want %s", what, field, got, typ)
			}
		}
	}
	return r
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	}
	return "object"
}

// TestManagementCompatAcrossNodes: the management routes on a two-node cluster, called on the
// node that is not the leader (node 2 joins node 1, which bootstrapped): a system start/stop
// reaches the modules of both nodes; a PATCH and a create without an id are forwarded to the
// leader with the id chosen by node 2, and both nodes then hold the same entity.
func TestManagementCompatAcrossNodes(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t))
	cfg.APIKey = adminKey
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, cfg, "mgmt", 2, clusterModel(drv), clusterModules)
	n1, n2 := c.Nodes[0], c.Nodes[1]
	api := "/api/engine/v2"
	answering := func(status int) func() bool {
		return func() bool {
			for i := 1; i <= clusterModules; i++ {
				if r := n2.Do("POST", fmt.Sprintf("%s/modules/mod-%02d/exec/echo", api, i), "[]", enginetest.APIKey(adminKey)); r.Status != status {
					return false
				}
			}
			return true
		}
	}
	if r := n2.Do("POST", api+"/systems/sys-1/stop", "", enginetest.APIKey(userKey)); r.Status != 403 {
		t.Fatalf("a user's stopSystem: %d %s", r.Status, r.Body)
	}
	if r := n2.Do("POST", api+"/systems/sys-1/stop", "", enginetest.APIKey(supportKey)); r.Status != 200 || r.Body != "" {
		t.Fatalf("stopSystem on node 2: %d %s", r.Status, r.Body)
	}
	n2.Eventually(30*time.Second, "every module of sys-1 stopped, on both nodes", answering(503))
	if r := n2.Do("POST", api+"/systems/sys-1/start", "", enginetest.APIKey(supportKey)); r.Status != 200 {
		t.Fatalf("startSystem on node 2: %d %s", r.Status, r.Body)
	}
	n2.Eventually(30*time.Second, "every module of sys-1 answering again", answering(200))

	if r := n2.Do("PATCH", api+"/modules/mod-01", `{"notes": "from node 2"}`, enginetest.APIKey(adminKey)); r.Status != 200 || !strings.Contains(r.Body, `"notes":"from node 2"`) {
		t.Fatalf("PATCH on node 2: %d %s", r.Status, r.Body)
	}
	r := n2.Do("POST", api+"/zones", `{"name": "Made on node 2"}`, enginetest.APIKey(adminKey))
	var z struct{ ID string }
	if err := json.Unmarshal([]byte(r.Body), &z); r.Status != 201 || err != nil || !strings.HasPrefix(z.ID, "zone-") {
		t.Fatalf("create without an id on node 2: %d %s", r.Status, r.Body)
	}
	for _, n := range []*enginetest.Node{n1, n2} {
		n.Eventually(10*time.Second, "both writes on "+n.ID, func() bool {
			return strings.Contains(n.Do("GET", api+"/modules/mod-01", "", enginetest.APIKey(userKey)).Body, "from node 2") &&
				n.Do("GET", api+"/zones/"+z.ID, "", enginetest.APIKey(userKey)).Status == 200
		})
		if r := n.Do("GET", api+"/modules?control_system_id=sys-1&limit=5", "", enginetest.APIKey(userKey)); r.Header.Get("X-Total-Count") != fmt.Sprint(clusterModules) || !strings.Contains(r.Header.Get("Link"), "offset=5") {
			t.Errorf("queryModules on %s: %d, X-Total-Count %q, Link %q", n.ID, r.Status, r.Header.Get("X-Total-Count"), r.Header.Get("Link"))
		}
	}
	if r := n2.Do("POST", api+"/modules/mod-01/load", "", enginetest.APIKey(adminKey)); r.Status != 200 || r.Body != "true" {
		t.Fatalf("load on node 2: %d %s", r.Status, r.Body)
	}
}

// TestModuleRuntimeErrorCompat: a module whose start fails (its settings are refused by the
// driver's OnLoad) reads, on either node of a two-node cluster, as PlaceOS shows it, with the
// reason (runtime_error; one whose driver does not build reads driver_not_built) —
// has_runtime_error true with the time it began, the node hosting it as core_node — and false
// again once the front-end sends back the object it read with the settings fixed (the read-only
// fields in it ignored); then connected follows the device.
func TestModuleRuntimeErrorCompat(t *testing.T) {
	t.Parallel()
	began := time.Now().Unix()
	redis := testutil.StartRedis(t)
	sim := startMDCSim(t)
	bin := testutil.BuildBinary(t, "./examples/drivers/samsungmdc")
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t), "--sdk-dir", root)
	cfg.APIKey = adminKey
	c := enginetest.StartCluster(t, cfg, "rterr", 2, fmt.Sprintf(`
repositories: [{id: repo-1, uri: %q}]
drivers:
  - {id: drv-mdc, name: Samsung MDC, module_name: Display, role: device, binary: %q, default_port: 1515}
  - {id: drv-broken, module_name: Broken, role: service, repository_id: repo-1, path: drivers/broken}
modules:
  - {id: mod-ok, driver_id: drv-mdc, ip: 127.0.0.1, port: %d, running: true, settings: {display_id: 1}}
  - {id: mod-bad, driver_id: drv-mdc, ip: 127.0.0.1, port: %[3]d, running: true, settings: {display_id: 255}}
  - {id: mod-broken, driver_id: drv-broken, running: true}
systems:
  - {id: sys-1, name: Signage, modules: [mod-ok, mod-bad]}
`, newRepo(t).dir, bin, sim.Port()), 2) // a module whose start failed is held for the retry: placed too
	place, err := c.Placement()
	if err != nil {
		t.Fatal(err)
	}
	api := "/api/engine/v2"
	type read struct {
		CoreNode        string `json:"core_node"`
		Connected       bool   `json:"connected"`
		HasRuntimeError bool   `json:"has_runtime_error"`
		ErrorTimestamp  *int64 `json:"error_timestamp"`
		DriverNotBuilt  bool   `json:"driver_not_built"`
		RuntimeError    string `json:"runtime_error"`
	}
	getModule := func(n *enginetest.Node, id string) (read, string) {
		r := n.Do("GET", api+"/modules/"+id, "", enginetest.APIKey(userKey))
		var m read
		_ = json.Unmarshal([]byte(r.Body), &m)
		return m, r.Body
	}
	get := func(n *enginetest.Node) (read, string) { return getModule(n, "mod-bad") }
	for _, n := range c.Nodes {
		n.Eventually(20*time.Second, "mod-bad's failed start shown on "+n.ID, func() bool {
			m, _ := get(n)
			return m.HasRuntimeError
		})
		m, body := get(n)
		// The driver's refusal names the setting, for a user too (as the node status shows it).
		// No node runs it, so it is not connected (PlaceOS would say true: it reads the status only).
		if m.ErrorTimestamp == nil || *m.ErrorTimestamp < began || *m.ErrorTimestamp > time.Now().Unix() || m.CoreNode != place["mod-bad"] ||
			!strings.Contains(m.RuntimeError, "display_id") || m.Connected {
			t.Fatalf("mod-bad on %s (placed on %s): %s", n.ID, place["mod-bad"], body)
		}
	}
	// A module whose driver does not build: not started, not a runtime error, read alike on both
	// nodes with the build's failure.
	hosts := map[string]bool{}
	for _, n := range c.Nodes {
		n.Eventually(60*time.Second, "mod-broken's driver not built, read on "+n.ID, func() bool {
			m, _ := getModule(n, "mod-broken")
			return m.DriverNotBuilt
		})
		m, body := getModule(n, "mod-broken")
		if m.HasRuntimeError || m.ErrorTimestamp != nil || m.CoreNode == "" || !strings.Contains(m.RuntimeError, "drivers/broken") || m.Connected {
			t.Fatalf("mod-broken on %s: %s", n.ID, body)
		}
		hosts[m.CoreNode] = true
	}
	if len(hosts) != 1 {
		t.Fatalf("the nodes disagree on mod-broken's node: %v", hosts)
	}
	r := c.Nodes[1].Do("GET", api+"/modules?limit=10", "", enginetest.APIKey(userKey))
	if r.Status != 200 || !strings.Contains(r.Body, `"driver":{"id":"drv-mdc","name":"Samsung MDC","module_name":"Display","role":"device"}`) ||
		!strings.Contains(r.Body, `"has_runtime_error":true`) || !strings.Contains(r.Body, `"has_runtime_error":false`) {
		t.Fatalf("queryModules: %d %s", r.Status, r.Body)
	}

	// The front-end edits what it read and sends all of it back.
	_, body := get(c.Nodes[1])
	fixed := strings.Replace(body, `"display_id":255`, `"display_id":1`, 1)
	if r := c.Nodes[1].Do("PUT", api+"/modules/mod-bad", fixed, enginetest.APIKey(adminKey)); r.Status != 200 {
		t.Fatalf("PUT of the object read, fixed: %d %s", r.Status, r.Body)
	}
	for _, n := range c.Nodes {
		n.Eventually(20*time.Second, "mod-bad started and connected, read on "+n.ID, func() bool {
			m, _ := get(n)
			return !m.HasRuntimeError && m.ErrorTimestamp == nil && m.RuntimeError == "" && m.Connected
		})
	}
	if r := c.Nodes[1].Do("POST", api+"/systems", `{"name": 7, "modules": []}`, enginetest.APIKey(adminKey)); r.Status != 400 ||
		!strings.Contains(r.Body, "want a string, not a JSON number") {
		t.Fatalf(`{"name": 7}: %d %s`, r.Status, r.Body)
	}
}
