package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/errkind"
)

// secretSample gives every owner of the settings merge plain and protected settings. Each key
// names what should win it: "m-never" means the module's never_displayed level.
const secretSample = `
repositories:
  - {id: repo-priv, uri: "https://deploy:hunter2@git.example.com/acme/drivers.git"}
  - {id: repo-token, uri: "https://ghp_0123456789@github.com/acme/drivers.git"}
  - {id: repo-ssh, uri: "ssh://git@git.example.com/acme/drivers.git"}
drivers:
  - id: drv-room
    module_name: Room
    role: logic
    binary: /bin/room
    settings: {a: d-none, b: d-none, c: d-none, d: d-none, e: d-none, f: d-none}
    protected_settings:
      - {level: never_displayed, settings: {f: d-never}}
      - {level: support, settings: {e: d-support, f: d-support}}
  - {id: drv-display, module_name: Display, role: device, binary: /bin/display, settings: {z: d-none}}
zones:
  - id: zone-1
    name: Building
    protected_settings: [{level: admin, settings: {d: z1-admin, e: z1-admin}}]
  - id: zone-2
    name: Floor
    settings: {d: z2-none}
    protected_settings: [{level: support, settings: {c: z2-support, d: z2-support}}]
systems:
  - id: sys-1
    name: Room 1
    modules: [mod-room, mod-display]
    zones: [zone-1, zone-2]
    protected_settings: [{level: admin, settings: {b: s-admin, c: s-admin}}]
modules:
  - id: mod-room
    driver_id: drv-room
    control_system_id: sys-1
    running: true
    settings: {a: m-none, password: m-none}
    protected_settings:
      - {level: admin, settings: {password: m-admin, a: m-admin}}
      - {level: never_displayed, settings: {password: m-never}}
      - {level: support, settings: {password: m-support, a: m-support, pin: m-support}}
  - id: mod-display
    driver_id: drv-display
    running: true
    protected_settings: [{level: admin, settings: {z: m-admin}}]
`

func testKeyring(t *testing.T) *Keyring {
	t.Helper()
	content, err := NewKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sealedStore is a store holding secretSample, sealed with k.
func sealedStore(t *testing.T, k *Keyring) *Memory {
	t.Helper()
	s := NewMemoryWithKeys(k)
	f, err := ParseFile([]byte(secretSample))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	return s
}

// plainValues are the protected values of secretSample; none may appear in a sealed model.
var plainValues = []string{"d-never", "d-support", "z1-admin", "z2-support", "s-admin", "m-admin", "m-never", "m-support"}

func TestSealedModelHoldsNoProtectedValueInClear(t *testing.T) {
	t.Parallel()
	k := testKeyring(t)
	m, _ := sealedStore(t, k).Model()
	data, err := json.Marshal(m.File())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range plainValues {
		if bytes.Contains(data, []byte(v)) {
			t.Errorf("the stored model holds %q in clear", v)
		}
	}
	if !bytes.Contains(data, []byte(`"sealed:v1:`+k.ID()+`:`)) {
		t.Fatalf("no sealed value with key %s in %s", k.ID(), data)
	}
	if err := m.File().CheckSealed(k); err != nil {
		t.Fatalf("CheckSealed with the sealing key: %v", err)
	}
	// The same value sealed twice differs (a random nonce per value).
	f := &File{Zones: []*Zone{{ID: "z", Name: "Z", ProtectedSettings: []Protected{{Level: LevelAdmin, Settings: Settings{"x": json.RawMessage(`"same"`)}}}}}}
	a, err := f.Seal(New(), k)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.Seal(New(), k)
	if bytes.Equal(a.Zones[0].ProtectedSettings[0].Settings["x"], b.Zones[0].ProtectedSettings[0].Settings["x"]) {
		t.Fatal("sealing the same value twice gave the same ciphertext")
	}
	if string(f.Zones[0].ProtectedSettings[0].Settings["x"]) != `"same"` {
		t.Fatal("Seal changed the file it was given")
	}
}

func TestMergedSettingsWithProtectedLevels(t *testing.T) {
	t.Parallel()
	k := testKeyring(t)
	m, _ := sealedStore(t, k).Model()
	tests := []struct {
		module string
		want   map[string]string
	}{
		// Module > system > last zone > first zone > driver; within each owner
		// never_displayed > admin > support > none.
		{"mod-room", map[string]string{
			"a": "m-admin", "password": "m-never", "pin": "m-support",
			"b": "s-admin", "c": "s-admin", "d": "z2-support", "e": "z1-admin", "f": "d-never",
		}},
		// A device module sees its own and its driver's settings only.
		{"mod-display", map[string]string{"z": "m-admin"}},
	}
	for _, tt := range tests {
		merged, err := m.MergedSettings(m.Modules[tt.module], k)
		if err != nil {
			t.Fatalf("%s: %v", tt.module, err)
		}
		got := map[string]string{}
		for key, v := range merged {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				t.Fatalf("%s: %s = %s", tt.module, key, v)
			}
			got[key] = s
		}
		if !maps.Equal(got, tt.want) {
			t.Errorf("%s: merged = %v\nwant %v", tt.module, got, tt.want)
		}
	}
	// Without the key, or with another one, the merge fails rather than leave a secret out.
	if _, err := m.MergedSettings(m.Modules["mod-room"], nil); !errors.Is(err, ErrNoSecretsKey) {
		t.Fatalf("merge without a key: %v", err)
	}
	if _, err := m.MergedSettings(m.Modules["mod-room"], testKeyring(t)); !errors.Is(err, ErrSecretsKey) || !strings.Contains(err.Error(), "every node needs the same secrets key") {
		t.Fatalf("merge with another key: %v", err)
	}
}

func TestRedactedPerClearance(t *testing.T) {
	t.Parallel()
	k := testKeyring(t)
	store := sealedStore(t, k)
	const red = RedactedValue
	tests := []struct {
		c auth.Clearance
		// module mod-room's protected values by level and key
		want map[Level]map[string]string
		uri  string // repo-priv's URI
	}{
		{auth.ClearanceUser, map[Level]map[string]string{
			LevelAdmin: {"password": red, "a": red}, LevelNeverDisplayed: {"password": red},
			LevelSupport: {"password": red, "a": red, "pin": red},
		}, "https://xxxxx@git.example.com/acme/drivers.git"},
		{auth.ClearanceSupport, map[Level]map[string]string{
			LevelAdmin: {"password": red, "a": red}, LevelNeverDisplayed: {"password": red},
			LevelSupport: {"password": "m-support", "a": "m-support", "pin": "m-support"},
		}, "https://xxxxx@git.example.com/acme/drivers.git"},
		{auth.ClearanceAdmin, map[Level]map[string]string{
			LevelAdmin: {"password": "m-admin", "a": "m-admin"}, LevelNeverDisplayed: {"password": red},
			LevelSupport: {"password": "m-support", "a": "m-support", "pin": "m-support"},
		}, "https://deploy:hunter2@git.example.com/acme/drivers.git"},
		// A node acting for a driver's own call reads like an admin: never_displayed stays hidden.
		{auth.ClearanceInternal, map[Level]map[string]string{
			LevelAdmin: {"password": "m-admin", "a": "m-admin"}, LevelNeverDisplayed: {"password": red},
			LevelSupport: {"password": "m-support", "a": "m-support", "pin": "m-support"},
		}, "https://deploy:hunter2@git.example.com/acme/drivers.git"},
	}
	for _, tt := range tests {
		t.Run(tt.c.String(), func(t *testing.T) {
			m, err := store.ModelFor(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			got := map[Level]map[string]string{}
			for _, p := range m.Modules["mod-room"].ProtectedSettings {
				got[p.Level] = map[string]string{}
				for key, v := range p.Settings {
					var s string
					_ = json.Unmarshal(v, &s)
					got[p.Level][key] = s
				}
			}
			if !jsonSame(got, tt.want) {
				t.Errorf("mod-room as %s: %v\nwant %v", tt.c, got, tt.want)
			}
			if u := m.Repositories["repo-priv"].URI; u != tt.uri {
				t.Errorf("repo-priv as %s: %s, want %s", tt.c, u, tt.uri)
			}
			// The whole model as this caller reads it: never a never_displayed value, and
			// nothing above the caller's clearance.
			data, _ := json.Marshal(m.File())
			for _, v := range []string{"m-never", "d-never"} {
				if bytes.Contains(data, []byte(v)) {
					t.Errorf("never_displayed value %q read as %s", v, tt.c)
				}
			}
			if tt.c < auth.ClearanceAdmin {
				for _, v := range []string{"z1-admin", "s-admin", "m-admin", "hunter2", "ghp_0123456789"} {
					if bytes.Contains(data, []byte(v)) {
						t.Errorf("%s reads %q", tt.c, v)
					}
				}
			}
			if tt.c < auth.ClearanceSupport {
				for _, v := range []string{"d-support", "z2-support", "m-support"} {
					if bytes.Contains(data, []byte(v)) {
						t.Errorf("%s reads %q", tt.c, v)
					}
				}
			}
		})
	}
	// Plain settings stay readable by everyone; the stored model is unchanged by reading.
	m, _ := store.ModelFor(auth.ClearanceUser)
	if string(m.Modules["mod-room"].Settings["password"]) != `"m-none"` {
		t.Fatalf("plain setting as user: %s", m.Modules["mod-room"].Settings["password"])
	}
	stored, _ := store.Model()
	if err := stored.File().CheckSealed(k); err != nil {
		t.Fatalf("reading changed the stored model: %v", err)
	}
}

func jsonSame(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestRedactedValueWrittenBackKeepsTheStoredValue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k := testKeyring(t)
	store := sealedStore(t, k)
	// An admin reads the whole model (never_displayed redacted), changes one thing and writes it
	// all back, as `engine apply` of an exported model does.
	read, err := store.ModelFor(auth.ClearanceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	f := read.File()
	mod := *f.Modules[0]
	if mod.ID != "mod-display" {
		t.Fatalf("first module %s", mod.ID)
	}
	mod.IP = "10.0.0.9"
	f.Modules[0] = &mod
	if err := store.Apply(ctx, f); err != nil {
		t.Fatal(err)
	}
	m, _ := store.Model()
	merged, err := m.MergedSettings(m.Modules["mod-room"], k)
	if err != nil {
		t.Fatal(err)
	}
	if string(merged["password"]) != `"m-never"` {
		t.Fatalf("never_displayed password after a round trip: %s", merged["password"])
	}
	// A new value replaces it; the marker where nothing is stored is refused.
	upd := &File{Zones: []*Zone{{ID: "zone-1", Name: "Building", ProtectedSettings: []Protected{
		{Level: LevelAdmin, Settings: Settings{"d": json.RawMessage(`"new"`), "e": redactedJSON}},
	}}}}
	if err := store.Apply(ctx, upd); err != nil {
		t.Fatal(err)
	}
	z, _ := store.ModelFor(auth.ClearanceAdmin)
	if got := z.Zones["zone-1"].ProtectedSettings[0].Settings; string(got["d"]) != `"new"` || string(got["e"]) != `"z1-admin"` {
		t.Fatalf("zone-1 after update: d=%s e=%s", got["d"], got["e"])
	}
	bad := &File{Zones: []*Zone{{ID: "zone-1", Name: "Building", ProtectedSettings: []Protected{
		{Level: LevelSupport, Settings: Settings{"e": redactedJSON}},
	}}}}
	if err := store.Apply(ctx, bad); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "none is stored") {
		t.Fatalf("marker without a stored value: %v", err)
	}
	// A write that leaves protected_settings out replaces the entity as a whole: they are gone.
	if err := store.Apply(ctx, &File{Zones: []*Zone{{ID: "zone-1", Name: "Building"}}}); err != nil {
		t.Fatal(err)
	}
	if m, _ := store.Model(); len(m.Zones["zone-1"].ProtectedSettings) != 0 {
		t.Fatal("protected settings survived a write without them")
	}
}

func TestProtectedSettingsNeedAKey(t *testing.T) {
	t.Parallel()
	f, err := ParseFile([]byte(secretSample))
	if err != nil {
		t.Fatal(err)
	}
	err = NewMemory().Apply(context.Background(), f)
	if !errors.Is(err, ErrNoSecretsKey) || !errors.Is(err, errkind.BadRequest) || !strings.Contains(err.Error(), "--secrets-key-file") {
		t.Fatalf("apply without a key: %v", err)
	}
	// Reads without a key work below the levels that need opening.
	k := testKeyring(t)
	m, _ := sealedStore(t, k).Model()
	if _, err := m.Redacted(auth.ClearanceUser, nil); err != nil {
		t.Fatalf("user read without a key: %v", err)
	}
	if _, err := m.Redacted(auth.ClearanceAdmin, nil); !errors.Is(err, ErrNoSecretsKey) {
		t.Fatalf("admin read without a key: %v", err)
	}
	// A node with another key, or none, is told which key the values need.
	other := testKeyring(t)
	if err := m.File().CheckSealed(other); !errors.Is(err, ErrSecretsKey) || !strings.Contains(err.Error(), k.ID()) {
		t.Fatalf("CheckSealed with another key: %v", err)
	}
	if err := m.File().CheckSealed(nil); !errors.Is(err, ErrNoSecretsKey) || !strings.Contains(err.Error(), k.ID()) {
		t.Fatalf("CheckSealed without a key: %v", err)
	}
}

func TestSealedValueIsBoundToItsPlace(t *testing.T) {
	t.Parallel()
	k := testKeyring(t)
	m, _ := sealedStore(t, k).Model()
	never := m.Modules["mod-room"].ProtectedSettings[1]
	if never.Level != LevelNeverDisplayed {
		t.Fatalf("entry 1 is %s", never.Level)
	}
	v := never.Settings["password"]
	// Copied to a level an admin may read, or to another entity, it no longer opens.
	for _, place := range []struct {
		kind  Kind
		id    string
		level Level
		key   string
	}{
		{KindModule, "mod-room", LevelAdmin, "password"},
		{KindModule, "mod-display", LevelNeverDisplayed, "password"},
		{KindModule, "mod-room", LevelNeverDisplayed, "pin"},
	} {
		if _, err := openValue(k, place.kind, place.id, place.level, place.key, v); !errors.Is(err, ErrSecretsKey) {
			t.Errorf("value moved to %+v opened: %v", place, err)
		}
	}
	if got, err := openValue(k, KindModule, "mod-room", LevelNeverDisplayed, "password", v); err != nil || string(got) != `"m-never"` {
		t.Fatalf("value in place: %s, %v", got, err)
	}
}

func TestValidateProtectedSettings(t *testing.T) {
	t.Parallel()
	tests := []struct{ yaml, want string }{
		{`zones: [{id: z1, name: Z, protected_settings: [{level: root, settings: {}}]}]`,
			`zone "z1": protected_settings[0].level: "root" is not one of support, admin, never_displayed`},
		{`zones: [{id: z1, name: Z, protected_settings: [{level: none, settings: {}}]}]`,
			`zone "z1": protected_settings[0].level: none is the level of the plain settings field; use settings`},
		{`zones: [{id: z1, name: Z, protected_settings: [{level: admin, settings: {}}, {level: admin, settings: {}}]}]`,
			`zone "z1": protected_settings[1].level: admin is already given in protected_settings[0]`},
		{`drivers: [{id: d1, module_name: D, role: device, binary: /x, protected_settings: [{level: admin, settings: {password: x}}]}]`,
			`driver "d1": protected_settings[0].settings.password: is not sealed`},
	}
	for _, tt := range tests {
		f, err := ParseFile([]byte(tt.yaml))
		if err != nil {
			t.Fatalf("%s: %v", tt.yaml, err)
		}
		err = New().Upsert(f).Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s:\nerror %v\nwant it to contain %q", tt.yaml, err, tt.want)
		}
	}
	// Settings must be objects, at every level; unknown fields in an entry are refused.
	for _, y := range []string{
		`zones: [{id: z1, name: Z, protected_settings: [{level: admin, settings: 5}]}]`,
		`zones: [{id: z1, name: Z, protected_settings: [{level: admin, settings: [1]}]}]`,
		`zones: [{id: z1, name: Z, protected_settings: {level: admin}}]`,
		`zones: [{id: z1, name: Z, protected_settings: [{level: admin, value: {a: 1}}]}]`,
		`zones: [{id: z1, name: Z, protected_settings: [{level: admin, settings: {a: 1, a: 2}}]}]`,
	} {
		if _, err := ParseFile([]byte(y)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", y, err)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hex64 := strings.Repeat("ab", 32)
	k1, err := LoadKeyring(write("ok", "  "+hex64+"\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := LoadKeyring(write("same", hex64))
	if k1.ID() != k2.ID() || len(k1.ID()) != 8 {
		t.Fatalf("key ids %q and %q", k1.ID(), k2.ID())
	}
	for name, content := range map[string]string{
		"short": strings.Repeat("ab", 16), "not-hex": strings.Repeat("zz", 32), "empty": "",
		"base64": "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",
	} {
		if _, err := LoadKeyring(write(name, content)); !errors.Is(err, ErrSecretsKey) || !strings.Contains(err.Error(), "64 hexadecimal digits") {
			t.Errorf("%s key file: %v", name, err)
		}
	}
	if _, err := LoadKeyring(filepath.Join(dir, "missing")); !errors.Is(err, ErrSecretsKey) {
		t.Errorf("missing key file: %v", err)
	}
}

// TestSecretsAndScrub: a module's secrets are every protected value its merge reads (its
// driver's, its system's and zones' for a logic module, its own), opened; Scrub hides each in a
// driver's text, the longest first; values shorter than MinSecretLen are not secrets to hide; and
// without the key there is no list, as there is no merge.
func TestSecretsAndScrub(t *testing.T) {
	t.Parallel()
	k := testKeyring(t)
	m, _ := sealedStore(t, k).Model()
	got, err := m.Secrets(m.Modules["mod-room"], k)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(plainValues)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("secrets of mod-room %q, want %q", got, want)
	}
	display, err := m.Secrets(m.Modules["mod-display"], k)
	if err != nil || !slices.Contains(display, "m-admin") || slices.Contains(display, "s-admin") {
		t.Fatalf("secrets of mod-display %q, %v: its own and its driver's only", display, err)
	}
	text := `login refused for "m-never" (pin m-support, m-supporter); ok`
	if s := Scrub(text, []string{"m-never", "m-support", "m-supporter"}); s != `login refused for "[redacted]" (pin [redacted], [redacted]); ok` {
		t.Fatalf("scrubbed: %s", s)
	}
	if _, err := m.Secrets(m.Modules["mod-room"], nil); !errors.Is(err, ErrNoSecretsKey) {
		t.Fatalf("secrets without a key: %v", err)
	}
	f, err := ParseFile([]byte(`
drivers: [{id: d, module_name: D, role: device, binary: /bin/d}]
modules: [{id: m1, driver_id: d, protected_settings: [{level: admin, settings: {pin: "123", port: 4443, on: true, key: "abcd", q: 'pa"ss<word'}}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := NewMemoryWithKeys(k)
	if err := s.Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	small, _ := s.Model()
	secrets, err := small.Secrets(small.Modules["m1"], k)
	want = []string{ // longest first
		`pa\\\"ss\\u003cword`, `pa\\\"ss\u003cword`, `pa\"ss\u003cword`, `pa%22ss%3Cword`, `pa\\\"ss<word`, `pa\"ss<word`, `pa"ss<word`,
		"4443", "abcd"}
	if err != nil || !slices.Equal(secrets, want) {
		t.Fatalf("secrets %q, %v: want %q (4 characters or more, numbers as printed, as in a JSON string, escaped once or twice, HTML characters escaped or not, URL-encoded)", secrets, err, want)
	}
	for line, clean := range map[string]string{
		// A JSON log line, as encoding/json and as hclog (JSONEscapeDisabled) write it.
		`{"@message":"login","password":"pa\"ss\u003cword"} pa"ss<word`: `{"@message":"login","password":"[redacted]"} [redacted]`,
		`{"@message":"login","password":"pa\"ss<word"}`:                 `{"@message":"login","password":"[redacted]"}`,
		// A settings document logged as a field: the value escaped twice.
		`{"@message":"settings","doc":"{\"q\":\"pa\\\"ss\\u003cword\"}"}`: `{"@message":"settings","doc":"{\"q\":\"[redacted]\"}"}`,
		`{"@message":"settings","doc":"{\"q\":\"pa\\\"ss<word\"}"}`:       `{"@message":"settings","doc":"{\"q\":\"[redacted]\"}"}`,
	} {
		if got := Scrub(line, secrets); got != clean {
			t.Errorf("scrubbed %s\n  to %s\nwant %s", line, got, clean)
		}
	}

	// A value of several lines: each line is hidden where a plain stderr line holds only one.
	f, err = ParseFile([]byte(`
drivers: [{id: d, module_name: D, role: device, binary: /bin/d}]
modules: [{id: m2, driver_id: d, protected_settings: [{level: admin, settings: {cert: "first-line\nsecond-line\nok"}}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	multi, _ := s.Model()
	secrets, err = multi.Secrets(multi.Modules["m2"], k)
	if err != nil {
		t.Fatal(err)
	}
	if got := Scrub("second-line", secrets) + " " + Scrub("ok", secrets); got != "[redacted] ok" {
		t.Fatalf("a line of a value of several lines: %q (lines under 4 characters stay)", got)
	}
}

// A module's device URI may carry the device's credentials (https://admin:PASS@display/api):
// below admin they are hidden as a repository URI's are, and an admin — the only role that
// writes modules back — reads it whole.
func TestRedactedModuleURI(t *testing.T) {
	t.Parallel()
	f, err := ParseFile([]byte(`
drivers: [{id: drv-1, module_name: Display, role: device, binary: /bin/display}]
modules:
  - {id: mod-secret, driver_id: drv-1, uri: "https://admin:dev1ce-PASS@10.0.0.5/api"}
  - {id: mod-plain, driver_id: drv-1, uri: "ws://10.0.0.6:8080/control"}
`))
	if err != nil {
		t.Fatal(err)
	}
	m := New().Upsert(f)
	for c, want := range map[auth.Clearance]string{
		auth.ClearanceUser:    "https://xxxxx@10.0.0.5/api",
		auth.ClearanceSupport: "https://xxxxx@10.0.0.5/api",
		auth.ClearanceAdmin:   "https://admin:dev1ce-PASS@10.0.0.5/api",
	} {
		r, err := m.Redacted(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Modules["mod-secret"].URI; got != want {
			t.Errorf("mod-secret's uri as %s: %s, want %s", c, got, want)
		}
		if got := r.Modules["mod-plain"].URI; got != "ws://10.0.0.6:8080/control" {
			t.Errorf("mod-plain's uri as %s: %s", c, got)
		}
	}
	if m.Modules["mod-secret"].URI != "https://admin:dev1ce-PASS@10.0.0.5/api" {
		t.Fatal("redacting changed the model itself")
	}
}

// TestSecretsInsideObjectValues: a protected setting whose value is an object or a list (PlaceOS
// drivers take `credentials: {username, password}`) was a secret only as its whole JSON text,
// which no driver prints: the password a driver quotes ("login refused for Obj-Secret-99") was
// not hidden. Each string and number inside counts as a value of its own too, at any depth.
func TestSecretsInsideObjectValues(t *testing.T) {
	t.Parallel()
	k := testKeyring(t)
	f, err := ParseFile([]byte(`
drivers: [{id: d, module_name: D, role: device, binary: /bin/d}]
modules:
  - id: m1
    driver_id: d
    protected_settings:
      - level: admin
        settings:
          credentials: {username: svc-operator, password: "Obj-Secret-99", pin: 482913, short: abc, on: true}
          hosts: ["backup-host-pass", {token: "deep-token-7"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := NewMemoryWithKeys(k)
	if err := s.Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	m, _ := s.Model()
	secrets, err := m.Secrets(m.Modules["m1"], k)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"svc-operator", "Obj-Secret-99", "482913", "backup-host-pass", "deep-token-7"} {
		if !slices.Contains(secrets, want) {
			t.Errorf("the secrets of m1 lack %q: %q", want, secrets)
		}
	}
	for _, not := range []string{"abc", "true"} {
		if slices.Contains(secrets, not) {
			t.Errorf("the secrets of m1 hold %q (shorter than %d, or true): %q", not, MinSecretLen, secrets)
		}
	}
	line := "login refused for svc-operator with obj-secret-99 (pin 482913) at backup-host-pass"
	if got := NewSecretIndex(secrets).Scrub(line); got != "login refused for [redacted] with [redacted] (pin [redacted]) at [redacted]" {
		t.Errorf("scrubbed: %q", got)
	}
}
