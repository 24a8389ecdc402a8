package model

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
)

const sample = `
drivers:
  - {id: drv-display, module_name: Display, role: device, binary: /bin/display, settings: {a: 1, b: 1, c: 1, d: 1}}
  - {id: drv-camera, module_name: Camera, role: device, binary: /bin/camera}
  - {id: drv-room, module_name: Room, role: logic, binary: /bin/room, settings: {a: 1, b: 1, c: 1, d: 1}}
zones:
  - {id: zone-1, name: Building, settings: {a: 2, b: 2, c: 2}}
  - {id: zone-2, name: Floor, settings: {a: 3, b: 3}}
systems:
  - {id: sys-1, name: Room 1, modules: [mod-a, mod-cam, mod-b, mod-room], zones: [zone-1, zone-2], settings: {a: 4}}
modules:
  - {id: mod-a, driver_id: drv-display, running: true, settings: {a: 9}}
  - {id: mod-b, driver_id: drv-display, running: true}
  - {id: mod-cam, driver_id: drv-camera}
  - {id: mod-room, driver_id: drv-room, control_system_id: sys-1, running: true}
`

func load(t *testing.T) *Model {
	t.Helper()
	f, err := ParseFile([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	m := New().Upsert(f)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLookupNumbersEachNameInOrder(t *testing.T) {
	t.Parallel()
	m := load(t)
	got := m.Lookup(m.Systems["sys-1"])
	want := map[string]string{"Display/1": "mod-a", "Camera/1": "mod-cam", "Display/2": "mod-b", "Room/1": "mod-room"}
	if !maps.Equal(got, want) {
		t.Fatalf("lookup = %v, want %v", got, want)
	}
	// A custom name takes precedence and gets its own numbering.
	m = m.Clone()
	b := *m.Modules["mod-b"]
	b.CustomName = "Projector"
	m.Modules["mod-b"] = &b
	if got := m.Lookup(m.Systems["sys-1"]); got["Projector/1"] != "mod-b" || got["Display/2"] != "" {
		t.Fatalf("custom name lookup = %v", got)
	}
}

func TestMergedSettingsPrecedence(t *testing.T) {
	t.Parallel()
	m := load(t)
	tests := []struct {
		module string
		want   map[string]string
	}{
		// Device modules see module > driver only.
		{"mod-a", map[string]string{"a": "9", "b": "1", "c": "1", "d": "1"}},
		// Logic modules: module > system > last zone > first zone > driver.
		{"mod-room", map[string]string{"a": "4", "b": "3", "c": "2", "d": "1"}},
	}
	for _, tt := range tests {
		got := map[string]string{}
		merged, err := m.MergedSettings(m.Modules[tt.module], nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range merged {
			got[k] = string(v)
		}
		if !maps.Equal(got, tt.want) {
			t.Errorf("%s: merged = %v, want %v", tt.module, got, tt.want)
		}
	}
}

func TestValidateNamesTheField(t *testing.T) {
	t.Parallel()
	tests := []struct{ yaml, want string }{
		{`modules: [{id: m1, driver_id: nope}]`, `module "m1": driver_id: no driver "nope"`},
		{`drivers: [{id: d1, module_name: X, role: toaster, binary: /x}]`, `driver "d1": role`},
		{`drivers: [{id: d1, module_name: X, role: device}]`, `needs either binary or repository_id`},
		{`systems: [{id: s1, name: S, modules: [ghost]}]`, `system "s1": modules[0]: no module "ghost"`},
		{`zones: [{id: "../etc", name: Z}]`, `zone "../etc": id`},
		{"drivers: [{id: d1, module_name: L, role: logic, binary: /x}]\nmodules: [{id: m1, driver_id: d1}]", `control_system_id: is required`},
		{`drivers: [{id: d1, module_name: X, role: device, binary: /x, placement: {"si te": hq}}]`, `driver "d1": placement: label key "si te"`},
		{"drivers: [{id: d1, module_name: X, role: device, binary: /x}]\nmodules: [{id: m1, driver_id: d1, placement: {site: ''}}]", `module "m1": placement: label "site" has an empty value`},
		{`systems: [{id: s1, name: S, modules: [], placement: {site: "a/b"}}]`, `system "s1": placement: label site="a/b"`},
		{"drivers: [{id: d1, module_name: X, role: device, binary: /x}]\n" +
			"systems: [{id: s1, name: S, modules: [m1], placement: {site: a}}, {id: s2, name: T, modules: [m1], placement: {site: b}}]\n" +
			"modules: [{id: m1, driver_id: d1}]",
			`module "m1": placement: its systems place it differently: site=a (s1) vs site=b (s2); give the module a placement of its own`},
	}
	for _, tt := range tests {
		f, err := ParseFile([]byte(tt.yaml))
		if err != nil {
			t.Fatalf("%s: %v", tt.yaml, err)
		}
		err = New().Upsert(f).Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.yaml, err, tt.want)
		}
		if !errors.Is(err, errkind.BadRequest) {
			t.Errorf("%s: error %v is not a bad request", tt.yaml, err)
		}
	}
}

func TestParseFileRejectsUnknownFields(t *testing.T) {
	t.Parallel()
	if _, err := ParseFile([]byte(`modules: [{id: m1, driverid: d}]`)); err == nil {
		t.Fatal("want an error for the unknown field driverid")
	}
	if _, err := ParseFile([]byte(`{"modules": [`)); err == nil {
		t.Fatal("want an error for truncated JSON")
	}
}

// JSON is read as JSON: a number or a boolean where a string belongs is a type error naming the
// field (the YAML decoder would have made it the string "7"), and a JSON file is still strict.
// YAML keeps YAML's scalars: `name: 7` there is the name "7".
func TestParseFileJSONTypes(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"zones": [{"id": "z1", "name": 7}]}`:                       `field "zones.name": want a string, not a JSON number`,
		`{"zones": [{"id": "z1", "name": true}]}`:                    `field "zones.name": want a string, not a JSON bool`,
		`{"modules": [{"id": "m1", "driver_id": "d", "port": "1"}]}`: `field "modules.port": want a whole number, not a JSON string`,
		`{"zones": [{"id": "z1", "nmae": "x"}]}`:                     `unknown field "nmae"`,
	} {
		_, err := ParseFile([]byte(body))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want ErrInvalid with %q", body, err, want)
		}
	}
	f, err := ParseFile([]byte("zones: [{id: z1, name: 7}]"))
	if err != nil || f.Zones[0].Name != "7" {
		t.Fatalf("YAML name: 7: %v", err)
	}
}

func TestMemoryStoreWatchAndSaveSetting(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewMemory()
	ch := s.Watch(ctx)
	f, err := ParseFile([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, f); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no change notification")
	}
	if err := s.SaveSetting(ctx, "mod-b", "volume", json.RawMessage(`30`)); err != nil {
		t.Fatal(err)
	}
	m, v := s.Model()
	if v != 2 || string(m.Modules["mod-b"].Settings["volume"]) != "30" {
		t.Fatalf("version %d, settings %v", v, m.Modules["mod-b"].Settings)
	}
	if err := s.SaveSetting(ctx, "ghost", "x", json.RawMessage(`1`)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("save on unknown module: %v", err)
	}
	// An invalid write is refused and leaves the model as it was.
	bad, err := ParseFile([]byte(`modules: [{id: m9, driver_id: nope}]`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, bad); err == nil {
		t.Fatal("invalid apply accepted")
	}
	if _, v2 := s.Model(); v2 != v {
		t.Fatalf("version moved to %d after a refused write", v2)
	}
}

func TestDeleteRefusesReferencedEntities(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemory()
	f, err := ParseFile([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, f); err != nil {
		t.Fatal(err)
	}
	err = s.Delete(ctx, KindDriver, "drv-display")
	if !errors.Is(err, ErrReferenced) || !strings.Contains(err.Error(), `module "mod-a", module "mod-b"`) {
		t.Fatalf("delete referenced driver: %v", err)
	}
	if err := s.Delete(ctx, KindZone, "zone-9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete unknown zone: %v", err)
	}
	// Remove the system's use of the camera, then the camera itself.
	m, _ := s.Model()
	sys := *m.Systems["sys-1"]
	sys.Modules = []string{"mod-a", "mod-b", "mod-room"}
	if err := s.Apply(ctx, &File{Systems: []*System{&sys}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, KindModule, "mod-cam"); err != nil {
		t.Fatalf("delete unreferenced module: %v", err)
	}
	if err := s.SetRunning(ctx, "mod-a", false); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Model(); m.Modules["mod-cam"] != nil || m.Modules["mod-a"].Running {
		t.Fatal("delete or set running did not take effect")
	}
}
