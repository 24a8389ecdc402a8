package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// The protected values of TestProtectedSettingsReachTheModuleOnly; none may be on disk, in the
// engine's log or in a read below its level.
const (
	supportPassword = "support-level-pw-5150" // masked by the admin level's password
	adminPassword   = "admin-level-pw-8086"
	neverToken      = "never-displayed-token-6502"
	clusterSecret   = "cluster-secret-from-a-file-z80"
)

// TestProtectedSettingsReachTheModuleOnly: a node started as the README says for secrets (a key
// from `engine secrets init`, the cluster secret from a file) takes protected settings over the
// management API; the module receives them merged (admin over support, never_displayed too), a
// user reading the module sees neither, an admin sees the admin value but never the
// never_displayed one, and the data directory holds none in clear — before and after a restart,
// after which the module receives them again.
func TestProtectedSettingsReachTheModuleOnly(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	dir := t.TempDir()
	keyFile := secretsKeyFile(t)
	secretFile := filepath.Join(dir, "cluster-secret")
	if err := os.WriteFile(secretFile, []byte(clusterSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := enginetest.NewNode(t, config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t),
		"--secrets-key-file", keyFile, "--cluster-secret-file", secretFile), "secrets")
	e.Start("--bootstrap", "--model", enginetest.WriteModel(t, fmt.Sprintf(`
drivers: [{id: drv-test, module_name: Test, role: device, binary: %q}]
modules: [{id: mod-a, driver_id: drv-test, running: true, settings: {input: hdmi1}}]
systems: [{id: sys-1, name: Room, modules: [mod-a]}]
`, drv)))
	e.WaitReady()

	mod := fmt.Sprintf(`{"id": "mod-a", "driver_id": "drv-test", "running": true, "settings": {"input": "hdmi1"},
		"protected_settings": [
			{"level": "support", "settings": {"password": %q}},
			{"level": "admin", "settings": {"password": %q}},
			{"level": "never_displayed", "settings": {"token": %q}}]}`, supportPassword, adminPassword, neverToken)
	if r := e.Do("PUT", "/api/engine/v2/modules/mod-a", mod, enginetest.APIKey(adminKey)); r.Status != 200 {
		t.Fatalf("PUT the module as admin: %d %s", r.Status, r.Body)
	}
	received := func() bool {
		r := e.Do("POST", "/api/engine/v2/modules/mod-a/exec/settings", "[]", enginetest.APIKey(adminKey))
		return r.Status == 200 && enginetest.JSONEqual(r.Body,
			fmt.Sprintf(`{"input": "hdmi1", "password": %q, "token": %q}`, adminPassword, neverToken))
	}
	e.Eventually(30*time.Second, "the module receives its protected settings", received)

	reads := func() {
		t.Helper()
		for _, role := range []struct{ name, key string }{{"user", userKey}, {"support", supportKey}, {"admin", adminKey}} {
			for _, path := range []string{"/api/engine/v2/modules/mod-a", "/api/engine/v2/modules", "/api/engine/v2/model"} {
				r := e.Do("GET", path, "", enginetest.APIKey(role.key))
				if r.Status != 200 {
					t.Fatalf("GET %s as %s: %d %s", path, role.name, r.Status, r.Body)
				}
				see := map[string]bool{
					supportPassword: role.key != userKey,
					adminPassword:   role.key == adminKey,
					neverToken:      false,
				}
				for v, want := range see {
					if strings.Contains(r.Body, v) != want {
						t.Errorf("GET %s as %s: shows %q = %t, want %t\n%s", path, role.name, v, !want, want, r.Body)
					}
				}
				if !strings.Contains(r.Body, `"[redacted]"`) {
					t.Errorf("GET %s as %s: no redaction marker\n%s", path, role.name, r.Body)
				}
			}
		}
	}
	reads()
	noPlaintext := func(when string) {
		t.Helper()
		secrets := []string{supportPassword, adminPassword, neverToken, clusterSecret}
		if hits := grepFiles(t, e.DataDir, secrets...); len(hits) > 0 {
			t.Errorf("%s: secrets in clear in the data directory:\n%s", when, strings.Join(hits, "\n"))
		}
		if hits := grepFiles(t, e.DataDir, "mod-a", "hdmi1"); len(hits) == 0 {
			t.Fatalf("%s: the model is nowhere in the data directory %s: the search reads the wrong files", when, e.DataDir)
		}
		for _, s := range secrets {
			if strings.Contains(e.Logs().String(), s) {
				t.Errorf("%s: the engine logged %q", when, s)
			}
		}
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(e.PID()) + "/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(cmdline, []byte(clusterSecret)) {
			t.Errorf("%s: the cluster secret is on the engine's command line", when)
		}
	}
	noPlaintext("running")
	if strings.Contains(e.Logs().String(), "given on the command line") {
		t.Errorf("secrets from files were warned about:\n%s", e.Logs().Tail(3000))
	}

	// From its data directory, with the same key, the node opens them again.
	e.Restart()
	e.Eventually(30*time.Second, "the module receives its protected settings after a restart", received)
	reads()
	noPlaintext("after a restart")

	// A careless driver quotes its settings in its errors: the node status, the module read and
	// the log see its protected values hidden (docs/protocol.md §2.7); an execute's caller who may
	// not read them all sees none of the driver's words.
	hidden := func(what, body string) {
		t.Helper()
		for _, v := range []string{supportPassword, adminPassword, neverToken} {
			if strings.Contains(body, v) {
				t.Errorf("%s shows %q:\n%s", what, v, body)
			}
		}
		if !strings.Contains(body, "[redacted]") || !strings.Contains(body, "hdmi1") {
			t.Errorf("%s: not the driver's words with the secrets hidden:\n%s", what, body)
		}
	}
	// A support caller may debug the module, but not read its admin and never_displayed values.
	dbg := dialWS(t, e, supportKey)
	if code := dbg.request(1, `{"id": 1, "cmd": "debug", "sys": "sys-1", "mod": "Test", "index": 1, "name": "debug"}`); code != 200 {
		t.Fatalf("debug as support: %d", code)
	}
	for _, key := range []string{userKey, adminKey} {
		r := e.Do("POST", "/api/engine/v2/modules/mod-a/exec/leak", "[]", enginetest.APIKey(key))
		// Hidden whole from a caller who may not read every value (§2.7: no oracle for guesses);
		// an admin, who chooses the drivers that receive never_displayed values, gets the driver's
		// words with the values hidden.
		want := `"message":"` + hiddenWords + ` (LeakError)"`
		if key == adminKey {
			want = `"message":"refused with settings {\"input\":\"hdmi1\",\"password\":\"[redacted]\",\"token\":\"[redacted]\"} (LeakError)"`
		}
		if r.Status != 500 || !strings.Contains(r.Body, want) {
			t.Fatalf("leak: %d %s", r.Status, r.Body)
		}
	}
	for {
		if err := dbg.conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
		_, data, err := dbg.conn.ReadMessage()
		if err != nil {
			t.Fatalf("no debug line of the leak: %v", err)
		}
		var m struct{ Type, Msg string }
		if json.Unmarshal(data, &m) == nil && m.Type == "debug" && strings.HasPrefix(m.Msg, "settings ") {
			hidden("a debug line", m.Msg)
			break
		}
	}
	e.WaitLog(10*time.Second, "leaking settings")
	e.WaitLog(10*time.Second, "plain settings")
	refusing := strings.Replace(mod, `"settings": {"input": "hdmi1"}`, `"settings": {"input": "hdmi1", "refuse_start": true}`, 1)
	if r := e.Do("POST", "/api/engine/v2/modules/mod-a/stop", "", enginetest.APIKey(adminKey)); r.Status != 200 {
		t.Fatalf("stop: %d %s", r.Status, r.Body)
	}
	if r := e.Do("PUT", "/api/engine/v2/modules/mod-a", refusing, enginetest.APIKey(adminKey)); r.Status != 200 {
		t.Fatalf("PUT refuse_start: %d %s", r.Status, r.Body)
	}
	r := e.Do("POST", "/api/engine/v2/modules/mod-a/start", "", enginetest.APIKey(adminKey))
	// Retry when the node next tries: every reconcile pass (5 s), not every second.
	if r.Status != 503 || !strings.Contains(r.Body, "did not start") || r.Header.Get("Retry-After") != "5" || !strings.Contains(r.Body, `"retry_after_ms":5000`) {
		t.Fatalf("a start the driver refuses: %d (Retry-After %q) %s, want 503 with the reason and a 5 s retry hint", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	hidden("the failed start's answer", r.Body)
	var read struct {
		RuntimeError string `json:"runtime_error"`
	}
	e.Eventually(30*time.Second, "the module read says why it does not run", func() bool {
		r := e.Do("GET", "/api/engine/v2/modules/mod-a", "", enginetest.APIKey(userKey))
		return json.Unmarshal([]byte(r.Body), &read) == nil && read.RuntimeError != ""
	})
	hidden("the module read's runtime_error", read.RuntimeError)
	hidden("the node status", e.Do("GET", "/api/core/v1/status", "", enginetest.APIKey(adminKey)).Body)
	noPlaintext("after a careless driver")
}

// grepFiles reads every file under dir and lists those holding any of values.
func grepFiles(t *testing.T, dir string, values ...string) (hits []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range values {
			if bytes.Contains(data, []byte(v)) {
				hits = append(hits, path+": "+v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// secretsKeyFile is a new secrets key, made as an operator makes one (engine secrets init).
func secretsKeyFile(t *testing.T) string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	if out, err := exec.Command(testutil.BuildBinary(t, "./cmd/engine"), "secrets", "init", "--out", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("engine secrets init: %v\n%s", err, out)
	}
	return keyFile
}
