package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/placeos-go/engine/internal/testutil"
)

// The management API validates writes, names fields and references in its errors, and the CLI
// applies model files and prints the cluster.
func TestManagementAPIAndCLI(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	e := startEngine(t, redis.URL, testDriverModel(drv))
	api := "/api/engine/v2"
	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"list drivers", "GET", api + "/drivers", "", 200, `"id":"drv-test"`},
		{"get module", "GET", api + "/modules/mod-test", "", 200, `"driver_id":"drv-test"`},
		{"get unknown", "GET", api + "/zones/nope", "", 404, `zone \"nope\" not found`},
		{"create zone", "POST", api + "/zones", `{"id": "zone-1", "name": "Level 1"}`, 201, `"name":"Level 1"`},
		{"create again", "POST", api + "/zones", `{"id": "zone-1", "name": "Level 1"}`, 409, "already exists"},
		{"replace zone", "PUT", api + "/zones/zone-1", `{"id": "zone-1", "name": "First floor"}`, 200, "First floor"},
		{"id mismatch", "PUT", api + "/zones/zone-1", `{"id": "zone-2", "name": "x"}`, 400, "does not match"},
		{"unknown field", "PUT", api + "/zones/zone-1", `{"id": "zone-1", "nmae": "x"}`, 400, "nmae"},
		{"malformed", "PUT", api + "/zones/zone-1", `{"id": `, 400, "parse_error"},
		{"bad reference", "PUT", api + "/modules/mod-x", `{"id": "mod-x", "driver_id": "drv-nope"}`, 400, `driver_id: no driver \"drv-nope\"`},
		{"bad id", "POST", api + "/zones", `{"id": "../etc", "name": "x"}`, 400, `zone \"../etc\": id`},
		// The builder's own rules, at the API: a 400 now rather than a failed build later.
		{"uri helper", "POST", api + "/repositories", `{"id": "r1", "uri": "ext::sh -c touch% /tmp/pwned"}`, 400, `repository \"r1\": uri`},
		{"uri option", "PUT", api + "/repositories/r1", `{"id": "r1", "uri": "--upload-pack=x"}`, 400, `must not start with '-'`},
		{"driver path traversal", "PUT", api + "/model", `{"repositories": [{"id": "r1", "uri": "https://git.example.com/r1.git"}],
			"drivers": [{"id": "d1", "module_name": "D", "role": "device", "repository_id": "r1", "path": "../x"}]}`, 400, `driver \"d1\": path \"../x\"`},
		{"duplicate ids", "PUT", api + "/model", `{"zones": [{"id": "zone-d", "name": "A"}, {"id": "zone-d", "name": "B"}]}`, 400, `zone \"zone-d\": id: given more than once`},
		{"delete referenced", "DELETE", api + "/drivers/drv-test", "", 400, `used by module \"mod-test\"`},
		{"delete zone", "DELETE", api + "/zones/zone-1", "", 204, ""},
		{"delete again", "DELETE", api + "/zones/zone-1", "", 404, "not found"},
		{"bulk with cycle", "PUT", api + "/model", `{"systems": [{"id": "sys-l", "name": "L", "modules": ["mod-l"]}],
			"modules": [{"id": "mod-l", "driver_id": "drv-test", "control_system_id": "sys-l"}]}`, 200, `"applied":true`},
		{"stop module", "POST", api + "/modules/mod-test/stop", "", 200, ""},
	}
	for _, tt := range tests {
		r := e.Do(tt.method, tt.path, tt.body)
		if r.Status != tt.status || !strings.Contains(r.Body, tt.contains) {
			t.Errorf("%s: %d %s; want %d containing %q", tt.name, r.Status, r.Body, tt.status, tt.contains)
		}
	}
	if r := e.Do("POST", api+"/modules/mod-test/exec/pid", "[]"); r.Status != 503 {
		t.Errorf("exec on a stopped module: %d %s; want 503", r.Status, r.Body)
	}
	if r := e.Do("POST", api+"/modules/mod-test/start", ""); r.Status != 200 {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	if r := e.Do("POST", api+"/modules/mod-test/exec/pid", "[]"); r.Status != 200 {
		t.Errorf("exec after start: %d %s", r.Status, r.Body)
	}

	bin := testutil.BuildBinary(t, "./cmd/engine")
	modelFile := filepath.Join(t.TempDir(), "more.yaml")
	if err := os.WriteFile(modelFile, []byte("zones: [{id: zone-cli, name: From the CLI}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "apply", "-f", modelFile, "--server", e.Base).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "applied 0 repositories, 0 drivers, 1 zones") {
		t.Fatalf("engine apply: %v\n%s", err, out)
	}
	if r := e.Do("GET", api+"/zones/zone-cli", ""); r.Status != 200 {
		t.Fatalf("zone from engine apply: %d %s", r.Status, r.Body)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("modules: [{id: m, driver_id: ghost}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "apply", "-f", bad, "--server", e.Base).CombinedOutput(); err == nil || !strings.Contains(string(out), `no driver \"ghost\"`) && !strings.Contains(string(out), `no driver "ghost"`) {
		t.Fatalf("engine apply of a bad file: %v\n%s", err, out)
	}
	// --server as people type it: a URL, or host:port with a trailing slash.
	for _, server := range []string{e.Base, strings.TrimPrefix(e.Base, "http://") + "/"} {
		out, err = exec.Command(bin, "status", "--server", server).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "e2e") || !strings.Contains(string(out), "mod-test") {
			t.Fatalf("engine status --server %s: %v\n%s", server, err, out)
		}
	}
	if out, err := exec.Command(bin, "status", "--server", "ftp://"+strings.TrimPrefix(e.Base, "http://")).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "want a node's client API") {
		t.Fatalf("engine status with an ftp URL: %v\n%s", err, out)
	}
}
