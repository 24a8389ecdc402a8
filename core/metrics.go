package core

import (
	"errors"
	"time"
)

// observeExec records an execute that ran (or was refused) here, of driver ("": looked up). A
// module hosted elsewhere is not an execute of this node: Exec forwards it and the owner records
// it.
func (c *Core) observeExec(moduleID, driver, fn string, err error, d time.Duration) {
	if c.cfg.Metrics == nil || errors.Is(err, ErrNotHosted) {
		return
	}
	if driver == "" {
		driver = c.driverOf(moduleID)
	}
	c.cfg.Metrics.ObserveExec(driver, fn, err, d)
}

// driverOf is the model's driver id of a module, "" for an unknown module.
func (c *Core) driverOf(moduleID string) string {
	c.mu.Lock()
	st := c.modules[moduleID]
	var driver string
	if st != nil && st.config != nil {
		driver = st.config.DriverId
	}
	c.mu.Unlock()
	if driver != "" {
		return driver
	}
	m, _ := c.cfg.Store.Model()
	if mod := m.Modules[moduleID]; mod != nil {
		return mod.DriverID
	}
	return ""
}

// recordModules sets the modules-by-state gauge from this node's modules: running (serving,
// even if its latest update failed), building (waiting for its driver's compile), failed, and
// starting (wanted, not yet up, no error).
func (c *Core) recordModules() {
	if c.cfg.Metrics == nil {
		return
	}
	counts := map[string]int{}
	c.mu.Lock()
	for _, st := range c.modules {
		switch {
		case st.running:
			counts["running"]++
		case errors.Is(st.err, ErrBuilding):
			counts["building"]++
		case st.err != nil:
			counts["failed"]++
		default:
			counts["starting"]++
		}
	}
	c.mu.Unlock()
	c.cfg.Metrics.SetModules(counts)
}
