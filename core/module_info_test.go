package core

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/metadata"
	"github.com/placeos-go/engine/state"
)

const moduleInfoModel = `
drivers:
  - {id: drv-d, module_name: Display, role: device, binary: /bin/display}
  - {id: drv-room, module_name: Room, role: logic, binary: /bin/room}
modules:
  - {id: mod-1, driver_id: drv-d, running: true}
  - {id: mod-2, driver_id: drv-d, running: true, custom_name: Projector}
  - {id: mod-3, driver_id: drv-d, running: true}
  - {id: mod-room, driver_id: drv-room, control_system_id: sys-1, running: true}
systems:
  - {id: sys-1, name: Room, modules: [mod-1, mod-2, mod-room]}
`

// sentModuleInfo is the module_info in the control system the room module runs with (nil
// while it does not run).
func sentModuleInfo(t *testing.T, tc *testCore) []metadata.SystemModule {
	t.Helper()
	tc.mu.Lock()
	st := tc.modules["mod-room"]
	var raw []byte
	if st != nil && st.running {
		raw = st.config.ControlSystemJson
	}
	tc.mu.Unlock()
	if raw == nil {
		return nil
	}
	var cs struct {
		ID         string                  `json:"id"`
		ModuleInfo []metadata.SystemModule `json:"module_info"`
	}
	if err := json.Unmarshal(raw, &cs); err != nil || cs.ID != "sys-1" {
		t.Fatalf("control system %s: %v", raw, err)
	}
	return cs.ModuleInfo
}

// displayInfo is what the room's module_info lists of a display module.
func displayInfo(id, name string, index int) metadata.SystemModule {
	return metadata.SystemModule{ID: id, Name: name, Index: index, Implements: []string{"Powerable"},
		Functions: []string{"volume", "power", "input", "reboot", "factory_reset", "secret", "mix"}}
}

// startRoom runs a core with moduleInfoModel until the room's module_info lists what each of its
// system's modules reports, which it returns.
func startRoom(t *testing.T) (*testCore, []metadata.SystemModule) {
	t.Helper()
	tc := newTestCore(t, moduleInfoModel, nil)
	tc.sup.meta = displayMeta
	tc.Run(t.Context())
	t.Cleanup(tc.Close)
	full := []metadata.SystemModule{displayInfo("mod-1", "Display", 1), displayInfo("mod-2", "Projector", 1), displayInfo("mod-room", "Room", 1)}
	// The first pass starts the room before any metadata is written: names and indexes only.
	// Each module's SetMetadata is announced; the next pass sends the room what they report.
	testutil.Eventually(t, 5*time.Second, "the room's module_info with metadata", func() bool {
		for _, id := range []string{"mod-1", "mod-2", "mod-room"} {
			tc.state.deliver(state.InterfaceChangeChannel, []byte(id))
		}
		return reflect.DeepEqual(sentModuleInfo(t, tc), full)
	})
	return tc, full
}

// TestLogicModuleGetsModuleInfo: a logic module's system carries its modules' names, indexes
// and what their metadata reports; the module gets it again when that metadata arrives (the
// InterfaceChangeChannel message kicks a pass) and when the system changes; a pass that cannot
// read a module's metadata keeps what the module has rather than update it with less.
func TestLogicModuleGetsModuleInfo(t *testing.T) {
	t.Parallel()
	tc, full := startRoom(t)

	// A module of no hosted logic module's system does not kick a pass.
	for len(tc.kick) > 0 {
		<-tc.kick
	}
	tc.Close()
	tc.state.deliver(state.InterfaceChangeChannel, []byte("mod-3"))
	if len(tc.kick) != 0 {
		t.Error("mod-3's metadata kicked a pass: it is in no logic module's system")
	}
	tc.state.deliver(state.InterfaceChangeChannel, []byte("mod-2"))
	if len(tc.kick) != 1 {
		t.Error("mod-2's metadata did not kick a pass")
	}

	// Redis away: the room keeps its module_info, and no update is sent.
	tc.sup.take()
	tc.state.mu.Lock()
	tc.state.metaErr = errors.New("redis: connection refused")
	tc.state.mu.Unlock()
	tc.reconcile(t.Context())
	if calls := tc.sup.take(); len(calls) != 0 || !reflect.DeepEqual(sentModuleInfo(t, tc), full) {
		t.Errorf("a pass without metadata: calls %v, module_info %+v", calls, sentModuleInfo(t, tc))
	}
	tc.state.mu.Lock()
	tc.state.metaErr = nil
	tc.state.mu.Unlock()

	// The system changes: Display_2 joins, the projector leaves.
	apply(t, tc.store, `
systems:
  - {id: sys-1, name: Room, modules: [mod-1, mod-room, mod-3]}
`)
	tc.reconcile(t.Context())
	want := []metadata.SystemModule{displayInfo("mod-1", "Display", 1), displayInfo("mod-room", "Room", 1), displayInfo("mod-3", "Display", 2)}
	if got := sentModuleInfo(t, tc); !reflect.DeepEqual(got, want) {
		t.Errorf("after the system changed:\n got %+v\nwant %+v", got, want)
	}
	if calls := tc.sup.take(); !reflect.DeepEqual(calls, []string{"update mod-room {}"}) {
		t.Errorf("calls %v, want the room's update", calls)
	}
}

// TestModuleInfoOutlivesRedisLoss (faults 12): Redis restarted without data holds no metadata
// until the nodes hosting the modules write it back. A logic module gets no update for the loss
// nor for the write-back, as nothing its driver sees changed; a real change of a listed module's
// metadata (a new driver build) still reaches it, once.
func TestModuleInfoOutlivesRedisLoss(t *testing.T) {
	t.Parallel()
	tc, full := startRoom(t)
	tc.Close() // the passes below are the test's
	tc.sup.take()

	setMeta := func(meta map[string]string) {
		tc.state.mu.Lock()
		defer tc.state.mu.Unlock()
		tc.state.meta = meta
	}
	written := map[string]string{}
	tc.state.mu.Lock()
	maps.Copy(written, tc.state.meta)
	tc.state.mu.Unlock()

	setMeta(map[string]string{}) // Redis back empty
	tc.reconcile(t.Context())
	if calls := tc.sup.take(); len(calls) != 0 || !reflect.DeepEqual(sentModuleInfo(t, tc), full) {
		t.Errorf("a pass with Redis emptied: calls %v, module_info %+v", calls, sentModuleInfo(t, tc))
	}
	setMeta(maps.Clone(written)) // each hosting node wrote its share back
	tc.reconcile(t.Context())
	if calls := tc.sup.take(); len(calls) != 0 || !reflect.DeepEqual(sentModuleInfo(t, tc), full) {
		t.Errorf("a pass after the write-back: calls %v, module_info %+v", calls, sentModuleInfo(t, tc))
	}

	// mod-2's driver is rebuilt with one function more: the room hears of it once.
	changed := maps.Clone(written)
	changed["mod-2"] = strings.Replace(written["mod-2"], `"interface":{`, `"interface":{"mute":{},`, 1)
	if changed["mod-2"] == written["mod-2"] {
		t.Fatalf("no interface in mod-2's metadata: %s", written["mod-2"])
	}
	setMeta(changed)
	tc.reconcile(t.Context())
	tc.reconcile(t.Context())
	if calls := tc.sup.take(); len(calls) != 1 || !strings.HasPrefix(calls[0], "update mod-room") {
		t.Errorf("calls %v, want the room's one update", calls)
	}
	if got := sentModuleInfo(t, tc); got[1].Functions[0] != "mute" {
		t.Errorf("mod-2 in the room's module_info after its change: %+v", got[1])
	}

	// mod-3 joins the system while Redis is away: nothing is known of it, so the room keeps the
	// system it has until its metadata can be read, and then gets it whole, once.
	apply(t, tc.store, `
systems:
  - {id: sys-1, name: Room, modules: [mod-1, mod-2, mod-room, mod-3]}
`)
	tc.state.mu.Lock()
	tc.state.metaErr = errors.New("redis: connection refused")
	tc.state.mu.Unlock()
	tc.reconcile(t.Context())
	if calls := tc.sup.take(); len(calls) != 0 || len(sentModuleInfo(t, tc)) != 3 {
		t.Errorf("mod-3 joined with Redis away: calls %v, module_info %+v", calls, sentModuleInfo(t, tc))
	}
	tc.state.mu.Lock()
	tc.state.metaErr = nil
	tc.state.mu.Unlock()
	tc.reconcile(t.Context())
	got := sentModuleInfo(t, tc)
	if calls := tc.sup.take(); len(calls) != 1 || len(got) != 4 || len(got[3].Functions) == 0 {
		t.Errorf("mod-3 joined, Redis back: calls %v, module_info %+v", calls, got)
	}
}

// TestModuleInfoMemo: the next pass remembers what this one listed, and what earlier ones listed
// of modules still in the model (a logic module not configured this pass keeps what was known of
// its system); a module deleted from the model is forgotten.
func TestModuleInfoMemo(t *testing.T) {
	t.Parallel()
	store := model.NewMemory()
	apply(t, store, moduleInfoModel)
	m, _ := store.Model()
	old, gone := &functions{order: []string{"old"}}, &functions{order: []string{"gone"}}
	prev := infoMemo{"mod-1": {fs: old}, "mod-3": {fs: old}, "mod-deleted": {fs: gone}}
	st := newFakeState()
	st.meta["mod-1"] = `{"interface": {"power": {}}}`
	infos := newModuleInfos(t.Context(), m, st, &functionCache{}, prev, hclog.NewNullLogger())
	infos.of(m.Systems["sys-1"]) // lists mod-1 (read), mod-2 (no metadata anywhere) and mod-room
	got := infos.memo()
	if len(got) != 2 || got["mod-1"].fs.order[0] != "power" || got["mod-3"].fs != old {
		t.Errorf("memo %+v: want mod-1 as read and mod-3 as remembered, nothing else", got)
	}
}
