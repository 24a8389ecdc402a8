package core

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/metrics"
	"github.com/placeos-go/engine/model"
)

// MaxSettingSize bounds the JSON of one setting a driver saves. Saved settings are Raft writes,
// kept in every node's log and snapshots and sent with each module start: a driver's preset or
// a device's configuration fits, a file does not (a 1 MB save a few times a second made the
// Raft leader step down).
const MaxSettingSize = 64 << 10

// maxSettingName bounds a saved setting's name.
const maxSettingName = 256

// MaxSavedSettings and MaxSavedSettingsBytes bound a module's own settings (the document a
// driver's saves write into, the admin's keys included) as far as a driver's saves may grow it.
// The whole document is sent to the driver with every start and after every save, replicated
// in every node's model and downloaded by every reader of the module: 1 MiB (names and JSON
// values) is sixteen saves of the largest value and far above a device's configuration or a
// few hundred presets, and keeps what one module costs a node small against its memory; 256
// keys is more presets than a room panel shows. Past a bound a save that adds a key or makes
// the document larger is refused; one that does not (an overwrite with a value no larger) always
// passes, so a driver at the bound keeps working. Operators write larger settings through the
// management API.
const (
	MaxSavedSettings      = 256
	MaxSavedSettingsBytes = 1 << 20
)

// savedWaitMax bounds how long a save waits to see itself in this node's model (a follower
// applies the leader's commit a moment after the leader answered).
const savedWaitMax = 2 * time.Second

// maxSettingsWarned bounds the modules a full-settings refusal is logged for.
const maxSettingsWarned = 1000

// takeSave spends a setting save of the calling module's driver, or refuses it.
func (c *Core) takeSave(from string) error {
	return c.spend(from, c.cfg.Limits.SettingRate, c.quotas.takeSave, metrics.DriverSavesRefused,
		"driver %q saves settings faster than its limit of %s (bursts of %g); save only what changed")
}

// settingSaves makes each module's saves on this node one at a time, so that each is checked
// against the settings the one before it left: checked together, two saves would both fit.
type settingSaves struct {
	mu     sync.Mutex
	turns  map[string]*saveTurn // by module id, while a save of it runs or waits
	warned map[string]bool      // modules a full-settings refusal was logged for
}

type saveTurn struct {
	token chan struct{} // holds one value while a save runs
	users int
}

// lock waits for moduleID's turn to save; unlock gives it to the next.
func (s *settingSaves) lock(ctx context.Context, moduleID string) (unlock func(), err error) {
	s.mu.Lock()
	t := s.turns[moduleID]
	if t == nil {
		if s.turns == nil {
			s.turns = map[string]*saveTurn{}
		}
		t = &saveTurn{token: make(chan struct{}, 1)}
		s.turns[moduleID] = t
	}
	t.users++
	s.mu.Unlock()
	leave := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if t.users--; t.users == 0 {
			delete(s.turns, moduleID)
		}
	}
	select {
	case t.token <- struct{}{}:
		return func() { <-t.token; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

// firstRefusal reports whether moduleID's settings were not refused as full before: a driver
// retrying must not flood the log.
func (s *settingSaves) firstRefusal(moduleID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.warned[moduleID] || len(s.warned) >= maxSettingsWarned {
		return false
	}
	if s.warned == nil {
		s.warned = map[string]bool{}
	}
	s.warned[moduleID] = true
	return true
}

// settingsSize is what MaxSavedSettingsBytes counts of one group of settings: every name and
// JSON value as stored (a protected one sealed).
func settingsSize(s model.Settings) int {
	n := 0
	for k, v := range s {
		n += len(k) + len(v)
	}
	return n
}

// ownSettings counts a module's own settings as the bounds do: its plain settings and every
// protected level, where a driver's saves of protected keys go (model.SaveLevel).
func ownSettings(mod *model.Module) (keys, size int) {
	keys, size = len(mod.Settings), settingsSize(mod.Settings)
	for _, p := range mod.ProtectedSettings {
		keys, size = keys+len(p.Settings), size+settingsSize(p.Settings)
	}
	return keys, size
}

// checkSettingsRoom refuses a save into the module's settings of level that would add a key past
// MaxSavedSettings, or grow its own settings past MaxSavedSettingsBytes. A protected value
// counts as sealed, and takes the place of a plain one of the same name (model.ProtectedSave).
func (c *Core) checkSettingsRoom(mod *model.Module, name string, level model.Level, value []byte) error {
	keys, size := ownSettings(mod)
	keysAfter, after := keys, size
	place, stored := mod.Settings, len(value)
	if level != model.LevelNone {
		place, stored = mod.ProtectedAt(level), model.SealedSize(len(value))
		if old, ok := mod.Settings[name]; ok {
			keysAfter, after = keysAfter-1, after-len(name)-len(old)
		}
	}
	old, exists := place[name]
	after += stored - len(old)
	if !exists {
		keysAfter, after = keysAfter+1, after+len(name)
	}
	tooMany := keysAfter > keys && keysAfter > MaxSavedSettings
	tooBig := after > MaxSavedSettingsBytes && after > size
	if !tooMany && !tooBig {
		return nil
	}
	driver := c.driverOf(mod.ID)
	c.cfg.Metrics.DriverLimited(driver, metrics.DriverSettingsFull)
	if c.saves.firstRefusal(mod.ID) {
		c.log.Warn("a driver's setting save refused: the module's settings are full (further refusals for it are not logged)",
			"module", mod.ID, "driver", driver, "setting", name, "keys", keys, "bytes", size,
			"max_keys", MaxSavedSettings, "max_bytes", MaxSavedSettingsBytes)
	}
	return status.Errorf(codes.InvalidArgument,
		"setting %q of module %q: the module's settings would hold %d keys and %d bytes, more than the %d keys and %d bytes a driver may save; overwrite a setting it has, or ask an operator to remove some",
		name, mod.ID, keysAfter, after, MaxSavedSettings, MaxSavedSettingsBytes)
}

// storedForm is a setting value as the model keeps it: compact, and HTML-escaped, as the Raft
// command carrying it encodes it. Saved in that form on every store, the value this node's
// model shows is the one written (waitSaved) and the size checked the size kept.
func storedForm(v []byte) ([]byte, error) { return json.Marshal(json.RawMessage(v)) }

// waitSaved waits until this node's model shows the save (landed tells), at once on a leader or
// a single node, so that the next save of the module is checked against it. Past savedWaitMax
// it gives up: the write has landed, and the bound is off by at most this one save.
func (c *Core) waitSaved(ctx context.Context, moduleID, name string, landed func(*model.Module) bool) {
	saved := func() bool {
		m, _ := c.cfg.Store.Model()
		mod := m.Modules[moduleID]
		return mod == nil || landed(mod)
	}
	if saved() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, savedWaitMax)
	defer cancel()
	changed := c.cfg.Store.Watch(ctx)
	for !saved() {
		select {
		case <-changed:
		case <-ctx.Done():
			c.log.Debug("a saved setting did not reach this node's model in time", "module", moduleID,
				"setting", name, "waited", savedWaitMax)
			return
		}
	}
}
