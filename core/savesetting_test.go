package core

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
)

// tokenRoom gives mod-room an admin-level token, and its driver a support-level key.
const tokenRoom = `
drivers:
  - {id: drv-room, module_name: Room, role: logic, binary: /bin/room, protected_settings: [{level: support, settings: {api_key: "d-key-1"}}]}
modules:
  - {id: mod-room, driver_id: drv-room, control_system_id: sys-1, running: true, settings: {volume: 1},
     protected_settings: [{level: admin, settings: {token: "OrigSecret77"}}]}
systems:
  - {id: sys-1, name: Room, modules: [mod-room]}
`

// protectedCore is a core over tokenRoom, sealed with a key it has (secrets) or has not.
func protectedCore(t *testing.T, secrets bool) (*testCore, *model.Memory, *model.Keyring) {
	t.Helper()
	k := testutil.Keyring(t)
	store := model.NewMemoryWithKeys(k)
	apply(t, store, tokenRoom)
	tc := newTestCore(t, "", func(c *Config) {
		c.Store, c.Limits.SettingRate = store, -1
		if secrets {
			c.Secrets = k
		}
	})
	return tc, store, k
}

// A driver's save of a key the module protects (the red team's rotated token) is kept at that
// level, sealed: a user's read of the module shows it redacted, the driver's merge gets the new
// value, and the module's plain settings do not hold it. A key its driver protects is saved at
// the driver's level.
func TestSaveOfAProtectedKeyIsSealed(t *testing.T) {
	t.Parallel()
	tc, store, k := protectedCore(t, true)
	for name, value := range map[string]string{"token": `"RotatedSecret42"`, "api_key": `"d-key-2"`, "volume": `2`} {
		if _, err := tc.Host().SaveSetting(t.Context(), &proto.SaveSettingRequest{ModuleId: "mod-room", Name: name, ValueJson: []byte(value)}); err != nil {
			t.Fatalf("save %s: %v", name, err)
		}
	}
	m, _ := store.Model()
	mod := m.Modules["mod-room"]
	if len(mod.Settings) != 1 || string(mod.Settings["volume"]) != `2` {
		t.Errorf("plain settings %s, want only volume 2", mod.Settings)
	}
	merged, err := m.MergedSettings(mod, k)
	if err != nil {
		t.Fatal(err)
	}
	if string(merged["token"]) != `"RotatedSecret42"` || string(merged["api_key"]) != `"d-key-2"` {
		t.Errorf("the driver gets %s", merged)
	}
	for c, hidden := range map[auth.Clearance][]string{
		auth.ClearanceUser:    {"RotatedSecret42", "d-key-2"},
		auth.ClearanceSupport: {"RotatedSecret42"},
	} {
		read, err := store.ModelFor(c)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(read.File())
		for _, v := range hidden {
			if strings.Contains(string(body), v) {
				t.Errorf("clearance %v reads %q: %s", c, v, body)
			}
		}
	}
}

// A node without the secrets key refuses the save, naming why, rather than store it in clear.
func TestSaveOfAProtectedKeyNeedsTheKey(t *testing.T) {
	t.Parallel()
	tc, store, _ := protectedCore(t, false)
	before, _ := store.Model()
	_, err := tc.Host().SaveSetting(t.Context(), &proto.SaveSettingRequest{ModuleId: "mod-room", Name: "token", ValueJson: []byte(`"RotatedSecret42"`)})
	wantCode(t, err, codes.InvalidArgument, `"token"`, "protected", "secrets key")
	if after, _ := store.Model(); after != before {
		t.Error("the refused save changed the model")
	}
	// The red team's repro on such a node, had the module run: the "[redacted]" marker is
	// refused too, as it would keep the old value without saying so.
	tc, _, _ = protectedCore(t, true)
	_, err = tc.Host().SaveSetting(t.Context(), &proto.SaveSettingRequest{ModuleId: "mod-room", Name: "token", ValueJson: []byte(`"[redacted]"`)})
	wantCode(t, err, codes.InvalidArgument, `"token"`, "[redacted]")
}

// Protected keys count against the module's bounds as plain ones do, a saved value by its sealed
// size: with the token, 255 plain keys fill the key bound; a token past the byte bound once
// sealed is refused, one within it passes.
func TestProtectedKeysCountAgainstTheBounds(t *testing.T) {
	t.Parallel()
	tc, _, _ := protectedCore(t, true)
	save := saver(t, tc)
	for i := range MaxSavedSettings - 2 { // volume and the token are the two others
		if err := save(fmt.Sprintf("p%03d", i), `1`); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
	}
	wantCode(t, save("one_more", `1`), codes.InvalidArgument, "256 keys")

	tc, store, _ := protectedCore(t, true)
	save = saver(t, tc)
	blob := func(n int) string { return `"` + strings.Repeat("t", n-2) + `"` }
	room := func() int { // the bytes the token may take, sealed
		m, _ := store.Model()
		mod := m.Modules["mod-room"]
		_, size := ownSettings(mod)
		return MaxSavedSettingsBytes - size + len(mod.ProtectedAt(model.LevelAdmin)["token"])
	}
	for i := 0; room() > 80_000; i++ {
		if err := save(fmt.Sprintf("fill%02d", i), blob(60_000)); err != nil {
			t.Fatal(err)
		}
	}
	fits := 0
	for model.SealedSize(fits+1) <= room() {
		fits++
	}
	wantCode(t, save("token", blob(fits+1)), codes.InvalidArgument, `"token"`, "1048576 bytes")
	if err := save("token", blob(fits)); err != nil {
		t.Errorf("a token that fills the bound: %v", err)
	}
	m, _ := store.Model()
	if _, size := ownSettings(m.Modules["mod-room"]); size > MaxSavedSettingsBytes {
		t.Errorf("the settings hold %d bytes, past %d", size, MaxSavedSettingsBytes)
	}
}
