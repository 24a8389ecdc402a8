package main

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/placeos-go/engine/plugin/proto"
)

// What a module does around its stop, as its settings ask (a driver's OnUnload and a call that
// outlives its module):
//
//	"log_on_stop": true       its Stop logs the module's settings JSON, as an OnUnload logging
//	                          out of a device quotes the password: an hclog line naming the
//	                          module, and a debug line while debug is on
//	"hold_until_stop": fn     each call of function fn waits until the module stops (a minute at
//	                          most) before it runs: a slow call whose failure comes back after
//	                          the stop

type stopSettings struct {
	LogOnStop bool   `json:"log_on_stop"`
	Hold      string `json:"hold_until_stop"`
}

func settingsOf(mod *proto.Module) stopSettings {
	var s stopSettings
	_ = json.Unmarshal(mod.GetSettingsJson(), &s)
	return s
}

var (
	stopsMu sync.Mutex
	stops   = map[string]chan struct{}{} // by module: closed at its next stop
)

func stopped(id string) chan struct{} {
	stopsMu.Lock()
	defer stopsMu.Unlock()
	ch := stops[id]
	if ch == nil {
		ch = make(chan struct{})
		stops[id] = ch
	}
	return ch
}

// awaitStop holds a call of function fn of mod until mod stops, if its settings ask; it logs
// that it waits, so that a test stops the module only once the call is held.
func (d *driver) awaitStop(mod *proto.Module, fn string) {
	if fn != "" && settingsOf(mod).Hold == fn {
		ch := stopped(mod.GetId())
		d.log.Info("call waits for the module's stop", "module", mod.GetId())
		select {
		case <-ch:
		case <-time.After(time.Minute):
		}
	}
}

// onStop is the driver's stop-time work for module id, before it forgets the module.
func (d *driver) onStop(id string) {
	d.mu.Lock()
	mod, host, debug := d.modules[id], d.host, d.debug[id]
	d.mu.Unlock()
	if settingsOf(mod).LogOnStop {
		msg := "logging out of the device with settings " + string(mod.GetSettingsJson())
		d.log.Warn(msg, "module", id)
		if debug && host != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = host.Log(ctx, &proto.LogRequest{ModuleId: id, Level: "warn", Message: msg})
			cancel()
		}
	}
	stopsMu.Lock()
	if ch := stops[id]; ch != nil {
		close(ch)
		delete(stops, id)
	}
	stopsMu.Unlock()
}
