package core

import (
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/metrics"
)

// MaxSettingSize bounds the JSON of one setting a driver saves. Saved settings are Raft writes,
// kept in every node's log and snapshots and sent with each module start: a driver's preset or
// a device's configuration fits, a file does not (a 1 MB save a few times a second made the
// Raft leader step down).
const MaxSettingSize = 64 << 10

// maxSettingName bounds a saved setting's name.
const maxSettingName = 256

// takeSave spends a setting save of the calling module's driver, or refuses it.
func (c *Core) takeSave(from string) error {
	rate := c.cfg.Limits.SettingRate
	driver := c.driverOf(from)
	wait := c.quotas.takeSave(driver, rate)
	if wait == 0 {
		return nil
	}
	c.cfg.Metrics.DriverLimited(driver, metrics.DriverSavesRefused)
	return &limitError{retryAfter: wait, err: errkind.Wrap(errkind.TooMany, nil,
		"driver %q saves settings faster than its limit of %s (bursts of %g); save only what changed", driver, rateText(rate), burst(rate))}
}
