package core

import "github.com/placeos-go/engine/metrics"

// MaxSettingSize bounds the JSON of one setting a driver saves. Saved settings are Raft writes,
// kept in every node's log and snapshots and sent with each module start: a driver's preset or
// a device's configuration fits, a file does not (a 1 MB save a few times a second made the
// Raft leader step down).
const MaxSettingSize = 64 << 10

// maxSettingName bounds a saved setting's name.
const maxSettingName = 256

// takeSave spends a setting save of the calling module's driver, or refuses it.
func (c *Core) takeSave(from string) error {
	return c.spend(from, c.cfg.Limits.SettingRate, c.quotas.takeSave, metrics.DriverSavesRefused,
		"driver %q saves settings faster than its limit of %s (bursts of %g); save only what changed")
}
