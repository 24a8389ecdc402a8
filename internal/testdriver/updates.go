package main

import (
	"encoding/json"

	"github.com/placeos-go/engine/plugin/proto"
)

// countUpdate counts an Update call of module id, so a test can tell an update the engine sent
// from none (a config change the driver must not hear of, such as a Redis loss).
func (d *driver) countUpdate(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.updates == nil {
		d.updates = map[string]int{}
	}
	d.updates[id]++
}

// updatesOf answers updates(): the module's Update calls so far and the control system it runs
// with (null for a module that is not a logic module).
func (d *driver) updatesOf(mod *proto.Module) ([]byte, error) {
	d.mu.Lock()
	n := d.updates[mod.Id]
	d.mu.Unlock()
	cs := json.RawMessage("null")
	if len(mod.ControlSystemJson) > 0 {
		cs = mod.ControlSystemJson
	}
	return json.Marshal(struct {
		Updates       int             `json:"updates"`
		ControlSystem json.RawMessage `json:"control_system"`
	}{n, cs})
}
