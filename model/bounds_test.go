package model

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/placeos-go/engine/errkind"
)

const boundsBase = `
repositories: [{id: repo-1, uri: "https://example.com/r.git"}]
drivers: [{id: drv-1, module_name: Display, role: device, binary: /bin/d}]
zones: [{id: zone-1, name: Z}]
systems: [{id: sys-1, name: Room, modules: [mod-1], zones: [zone-1]}]
modules: [{id: mod-1, driver_id: drv-1}]
`

func parseFile(t *testing.T, y string) *File {
	t.Helper()
	f, err := ParseFile([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestWritesBoundIDsAndNames: a write whose id, reference or name (what a client puts in a URL,
// what becomes a Raft entry and a Redis key) is past 255 bytes is refused as a bad request naming
// the entity, the field and the length — never the value — and nothing of it is stored.
func TestWritesBoundIDsAndNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("n", 300)
	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"module id", `modules: [{id: LONG, driver_id: drv-1}]`, `a module: id is 300 bytes long`},
		{"system id", `systems: [{id: LONG, name: R}]`, `a system: id is 300 bytes long`},
		{"custom_name", `modules: [{id: mod-2, driver_id: drv-1, custom_name: LONG}]`, `module "mod-2": custom_name is 300 bytes long`},
		{"driver_id", `modules: [{id: mod-2, driver_id: LONG}]`, `module "mod-2": driver_id is 300 bytes long`},
		{"control_system_id", `modules: [{id: mod-2, driver_id: drv-1, control_system_id: LONG}]`, `module "mod-2": control_system_id is 300 bytes long`},
		{"system name", `systems: [{id: sys-2, name: LONG}]`, `system "sys-2": name is 300 bytes long`},
		{"system modules", `systems: [{id: sys-2, name: R, modules: [mod-1, LONG]}]`, `system "sys-2": modules[1] is 300 bytes long`},
		{"system zones", `systems: [{id: sys-2, name: R, zones: [LONG]}]`, `system "sys-2": zones[0] is 300 bytes long`},
		{"zone name", `zones: [{id: zone-2, name: LONG}]`, `zone "zone-2": name is 300 bytes long`},
		{"driver module_name", `drivers: [{id: drv-2, module_name: LONG, role: device, binary: /bin/d}]`, `driver "drv-2": module_name is 300 bytes long`},
		{"driver name", `drivers: [{id: drv-2, name: LONG, module_name: D, role: device, binary: /bin/d}]`, `driver "drv-2": name is 300 bytes long`},
		{"driver repository_id", `drivers: [{id: drv-2, module_name: D, role: device, repository_id: LONG, path: x}]`, `driver "drv-2": repository_id is 300 bytes long`},
		{"repository name", `repositories: [{id: repo-2, name: LONG, uri: "https://example.com/x.git"}]`, `repository "repo-2": name is 300 bytes long`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewMemory()
			if err := s.Apply(context.Background(), parseFile(t, boundsBase)); err != nil {
				t.Fatal(err)
			}
			_, before := s.Model()
			err := s.Apply(context.Background(), parseFile(t, strings.ReplaceAll(tt.yaml, "LONG", long)))
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, errkind.BadRequest) ||
				!strings.Contains(err.Error(), tt.want+"; an identifier may have at most 255 bytes") {
				t.Fatalf("got %v, want a bad request %q", err, tt.want)
			}
			if strings.Contains(err.Error(), long) {
				t.Fatal("the refusal quotes the value")
			}
			if _, after := s.Model(); after != before {
				t.Fatal("the refused write changed the model")
			}
		})
	}
	// At the bound, a name is fine.
	s := NewMemory()
	at := strings.Repeat("n", 255)
	if err := s.Apply(context.Background(), parseFile(t, `zones: [{id: zone-2, name: `+at+`}]`)); err != nil {
		t.Fatalf("a 255-byte name: %v", err)
	}
}

// TestLongNamesAnOlderEngineStored: a model an older engine wrote with a name past the bound
// (replayed from its Raft log or snapshot, which no bound is applied to) keeps working: a write
// that leaves the name as it is goes through (a --model file applied again, a PATCH of another
// field), a write that changes it to another long one, or gives it to another entity, is refused,
// and shortening it is fine.
func TestLongNamesAnOlderEngineStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	long := strings.Repeat("n", 300)
	s := NewMemory()
	if err := s.Apply(ctx, parseFile(t, boundsBase)); err != nil {
		t.Fatal(err)
	}
	// What a store's apply does with a replayed entry: upsert and validate, no bound.
	legacy := `modules: [{id: mod-1, driver_id: drv-1, custom_name: ` + long + `}]`
	if err := s.Update(ctx, func(m *Model) (*Model, error) { return m.Upsert(parseFile(t, legacy)), nil }); err != nil {
		t.Fatalf("replaying a long name: %v", err)
	}
	if err := s.Apply(ctx, parseFile(t, legacy)); err != nil {
		t.Fatalf("the same entity written again: %v", err)
	}
	if err := s.Apply(ctx, parseFile(t, `modules: [{id: mod-1, driver_id: drv-1, notes: moved, custom_name: `+long+`}]`)); err != nil {
		t.Fatalf("another field changed: %v", err)
	}
	for _, y := range []string{
		`modules: [{id: mod-1, driver_id: drv-1, custom_name: ` + long + `x}]`,
		`modules: [{id: mod-2, driver_id: drv-1, custom_name: ` + long + `}]`,
	} {
		if err := s.Apply(ctx, parseFile(t, y)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "custom_name is ") {
			t.Errorf("a new long name: %v, want refused", err)
		}
	}
	if err := s.Apply(ctx, parseFile(t, `modules: [{id: mod-1, driver_id: drv-1, custom_name: Short}]`)); err != nil {
		t.Fatalf("shortening it: %v", err)
	}
}
