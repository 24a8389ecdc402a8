package core

import (
	"context"
)

// recordDriverLimit remembers the memory_limit of the driver whose modules run from binary: the
// supervisor asks for it when it launches the binary (DriverMemoryLimit).
func (c *Core) recordDriverLimit(binary, limit string) {
	c.driverLimits.Store(binary, limit)
}

// DriverMemoryLimit is the model's memory_limit of the driver that binary was built from ("" if
// it sets none, ok false if this node runs no module of it).
func (c *Core) DriverMemoryLimit(binary string) (limit string, ok bool) {
	v, ok := c.driverLimits.Load(binary)
	if !ok {
		return "", false
	}
	return v.(string), true
}

// OnDriverMetadata writes again the metadata of modules whose driver process was relaunched with
// other metadata (a binary rebuilt at the same path), so the functions callers are checked
// against are the new process's without a module restart.
func (c *Core) OnDriverMetadata(ctx context.Context, _ string, moduleIDs []string, meta []byte) {
	for _, id := range moduleIDs {
		c.mu.Lock()
		var notes string
		if st := c.modules[id]; st != nil && st.config != nil {
			notes = st.config.Notes
		}
		c.mu.Unlock()
		withN, err := withNotes(meta, notes)
		if err == nil {
			err = c.cfg.State.SetMetadata(ctx, id, withN)
		}
		if err != nil {
			c.log.Warn("writing the relaunched driver's metadata failed", "module", id, "error", err)
		}
	}
}
