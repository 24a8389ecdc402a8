package model

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/placeos-go/engine/auth"
)

// SaveLevel is the highest level any owner of the module's merge protects the key at.
func TestSaveLevel(t *testing.T) {
	t.Parallel()
	m, _ := sealedStore(t, testKeyring(t)).Model()
	for _, tt := range []struct {
		module, key string
		want        Level
	}{
		{"mod-room", "password", LevelNeverDisplayed}, // the module's support, admin and never_displayed
		{"mod-room", "pin", LevelSupport},
		{"mod-room", "a", LevelAdmin},          // plain in the driver, the module; admin in the module
		{"mod-room", "b", LevelAdmin},          // the system's
		{"mod-room", "e", LevelAdmin},          // the driver's support, zone-1's admin
		{"mod-room", "f", LevelNeverDisplayed}, // the driver's alone
		{"mod-room", "z", LevelNone},           // protected for mod-display only
		{"mod-room", "volume", LevelNone},
		{"mod-display", "z", LevelAdmin},
		{"mod-display", "b", LevelNone}, // a device module merges no system
	} {
		if got := m.SaveLevel(m.Modules[tt.module], tt.key); got != tt.want {
			t.Errorf("%s %s: %s, want %s", tt.module, tt.key, got, tt.want)
		}
	}
}

// protectedSave saves value as a driver's save of a protected key does: the write ProtectedSave
// builds, sealed and applied by the store.
func protectedSave(s *Memory, module, key, value string) error {
	m, _ := s.Model()
	f, err := m.ProtectedSave(module, key, m.SaveLevel(m.Modules[module], key), json.RawMessage(value))
	if err != nil {
		return err
	}
	return s.Apply(context.Background(), f)
}

// A save of a protected key lands sealed at its level: the stored model holds it in no clear
// form, readers below the level see it redacted, the module's merge gives it to the driver, and
// every other protected value of the module is kept. A plain value of the same name is dropped.
func TestProtectedSaveIsSealedAtItsLevel(t *testing.T) {
	t.Parallel()
	k := testKeyring(t)
	s := sealedStore(t, k)
	if err := protectedSave(s, "mod-room", "password", `"RotatedSecret42"`); err != nil {
		t.Fatal(err)
	}
	if err := protectedSave(s, "mod-room", "pin", `"new-pin-77"`); err != nil {
		t.Fatal(err)
	}
	m, _ := s.Model()
	stored, err := json.Marshal(m.File())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append([]string{"RotatedSecret42", "new-pin-77"}, plainValues...) {
		if strings.Contains(string(stored), v) {
			t.Errorf("the stored model holds %q in clear", v)
		}
	}
	mod := m.Modules["mod-room"]
	if _, ok := mod.Settings["password"]; ok || string(mod.Settings["a"]) != `"m-none"` {
		t.Errorf("plain settings after the saves: %s", mod.Settings)
	}
	merged, err := m.MergedSettings(mod, k)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"password": "RotatedSecret42", "pin": "new-pin-77", "a": "m-admin", "b": "s-admin", "e": "z1-admin", "f": "d-never"} {
		if got := string(merged[key]); got != `"`+want+`"` {
			t.Errorf("merged %s = %s, want %q", key, got, want)
		}
	}
	for c, want := range map[auth.Clearance][]string{
		auth.ClearanceUser:    {},
		auth.ClearanceSupport: {"new-pin-77", "m-support"},
		auth.ClearanceAdmin:   {"new-pin-77", "m-admin", "m-support"},
	} {
		red, err := m.Redacted(c, k)
		if err != nil {
			t.Fatal(err)
		}
		read, _ := json.Marshal(red.Modules["mod-room"])
		if strings.Contains(string(read), "RotatedSecret42") || strings.Contains(string(read), "sealed:") {
			t.Errorf("clearance %v reads %s", c, read)
		}
		for _, v := range want {
			if !strings.Contains(string(read), v) {
				t.Errorf("clearance %v does not read %q in %s", c, v, read)
			}
		}
		if c == auth.ClearanceUser && strings.Contains(string(read), "new-pin-77") {
			t.Errorf("a user reads %s", read)
		}
	}
}

// A key protected by another owner of the merge (here the driver's never_displayed "f") is saved
// as the module's own at that level, which wins the merge and is never shown.
func TestProtectedSaveOfAnInheritedKey(t *testing.T) {
	t.Parallel()
	k := testKeyring(t)
	s := sealedStore(t, k)
	if err := protectedSave(s, "mod-room", "f", `"rotated-f"`); err != nil {
		t.Fatal(err)
	}
	m, _ := s.Model()
	mod := m.Modules["mod-room"]
	if _, ok := mod.ProtectedAt(LevelNeverDisplayed)["f"]; !ok {
		t.Fatalf("no never_displayed f in %v", mod.ProtectedSettings)
	}
	if merged, _ := m.MergedSettings(mod, k); string(merged["f"]) != `"rotated-f"` {
		t.Errorf("merged f = %s", merged["f"])
	}
	red, _ := m.Redacted(auth.ClearanceAdmin, k)
	if read, _ := json.Marshal(red.Modules["mod-room"]); strings.Contains(string(read), "rotated-f") {
		t.Errorf("an admin reads %s", read)
	}
}

// Refusals: a store without a key (never in clear), the redacted marker (Seal would keep the
// old value), a level that is not protected, bad JSON, an unknown module.
func TestProtectedSaveRefusals(t *testing.T) {
	t.Parallel()
	k := testKeyring(t)
	s := sealedStore(t, k)
	m, _ := s.Model()
	keyless := &Memory{keys: nil, cur: m, watchers: map[chan struct{}]struct{}{}}
	if err := protectedSave(keyless, "mod-room", "pin", `"new-pin"`); !errors.Is(err, ErrNoSecretsKey) {
		t.Errorf("keyless store: %v", err)
	}
	if err := protectedSave(s, "mod-room", "pin", `"[redacted]"`); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"pin"`) {
		t.Errorf("the redacted marker: %v", err)
	}
	for _, tt := range []struct {
		module string
		level  Level
		value  string
		want   error
	}{
		{"mod-room", LevelNone, `1`, ErrInvalid},
		{"mod-room", LevelAdmin, `{`, ErrInvalid},
		{"ghost", LevelAdmin, `1`, ErrNotFound},
	} {
		if _, err := m.ProtectedSave(tt.module, "pin", tt.level, json.RawMessage(tt.value)); !errors.Is(err, tt.want) {
			t.Errorf("%s %s %s: %v, want %v", tt.module, tt.level, tt.value, err, tt.want)
		}
	}
	if after, _ := s.Model(); after != m {
		t.Error("a refused save changed the model")
	}
}

// SealedSize is the stored size of a sealed value exactly.
func TestSealedSize(t *testing.T) {
	t.Parallel()
	k := testKeyring(t)
	for _, n := range []int{0, 1, 2, 3, 100, 65536} {
		sealed, err := k.seal("aad", make([]byte, n))
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := json.Marshal(sealed)
		if got := SealedSize(n); got != len(stored) {
			t.Errorf("SealedSize(%d) = %d, stored %d", n, got, len(stored))
		}
	}
}
