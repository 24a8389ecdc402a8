package core

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

// TestStartPayloadOpensProtectedSettings: the start payload is where protected settings leave
// their sealed form — merged and opened into the settings, never as the system's sealed values in
// a logic module's control system — and a node without the key cannot build it.
func TestStartPayloadOpensProtectedSettings(t *testing.T) {
	t.Parallel()
	k := testutil.Keyring(t)
	store := model.NewMemoryWithKeys(k)
	f, err := model.ParseFile([]byte(`
drivers: [{id: drv-room, module_name: Room, role: logic, binary: /bin/room}]
systems:
  - {id: sys-1, name: Room, modules: [mod-room], settings: {plain: p}, protected_settings: [{level: admin, settings: {sys_secret: "s-admin-1"}}]}
modules:
  - {id: mod-room, driver_id: drv-room, control_system_id: sys-1, running: true, protected_settings: [{level: never_displayed, settings: {token: "m-never-2"}}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	m, _ := store.Model()
	infos := newModuleInfos(t.Context(), m, newFakeState(), &functionCache{}, nil, hclog.NewNullLogger())
	cfg, err := moduleConfig(m, m.Modules["mod-room"], k, infos)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(cfg.SettingsJson); !strings.Contains(s, `"sys_secret":"s-admin-1"`) || !strings.Contains(s, `"token":"m-never-2"`) || !strings.Contains(s, `"plain":"p"`) {
		t.Fatalf("settings %s", s)
	}
	if cs := string(cfg.ControlSystemJson); strings.Contains(cs, "protected_settings") || strings.Contains(cs, "sealed:") || !strings.Contains(cs, `"plain":"p"`) {
		t.Fatalf("control system %s", cs)
	}
	if _, err := moduleConfig(m, m.Modules["mod-room"], nil, infos); !errors.Is(err, model.ErrNoSecretsKey) || !strings.Contains(err.Error(), `module "mod-room"`) {
		t.Fatalf("start payload without a key: %v", err)
	}
}
