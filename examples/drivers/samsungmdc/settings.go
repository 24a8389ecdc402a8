package main

import (
	"fmt"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// Settings of a Samsung display module.
type Settings struct {
	DisplayID   int    `json:"display_id,omitempty" description:"the display's ID from its menu, 0-253; 254 broadcasts to every display on the chain, which never answers [0]"`
	PowerOff    string `json:"power_off,omitempty" description:"what power(false) does: standby (MDC power off; the display must keep its network in standby to be turned on again) or panel (only the panel goes dark; the display stays on the network) [standby]"`
	PollSeconds int    `json:"poll_seconds,omitempty" description:"how often the status is read back, in seconds; -1 turns the poll off [30]"`
}

// config is the checked settings, or why they cannot be used.
type config struct {
	id         byte
	panelPower bool
	poll       time.Duration // 0: no poll
	err        error
}

// applySettings checks the settings and (re)schedules the poll. Bad settings are kept as the
// error every function returns until they are fixed.
func (d *MDC) applySettings() error {
	c := readConfig(&d.Base)
	d.cfg.Store(&c)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.poll != nil {
		d.poll.Cancel()
		d.poll = nil
	}
	if c.poll > 0 && c.id != broadcast {
		d.poll = d.Schedule().Every(c.poll, d.refresh)
	}
	return c.err
}

// readConfig checks the settings; the first problem found is the config's error.
func readConfig(b *sdk.Base) config {
	var s Settings
	err := b.Settings(&s)
	c := config{id: byte(s.DisplayID), panelPower: s.PowerOff == "panel", poll: 30 * time.Second}
	switch {
	case err != nil:
	case s.DisplayID < 0 || s.DisplayID > broadcast:
		err = fmt.Errorf("setting display_id %d: want 0-253, or 254 to broadcast", s.DisplayID)
	case s.PowerOff != "" && s.PowerOff != "standby" && s.PowerOff != "panel":
		err = fmt.Errorf("setting power_off %q: want standby or panel", s.PowerOff)
	case s.PollSeconds < -1:
		err = fmt.Errorf("setting poll_seconds %d: want seconds, or -1 for no poll", s.PollSeconds)
	case s.PollSeconds == -1:
		c.poll = 0
	case s.PollSeconds > 0:
		c.poll = time.Duration(s.PollSeconds) * time.Second
	}
	if err != nil {
		// The module's configuration is wrong, not the caller's request.
		c.err = &sdk.Error{Status: 500, Kind: "BadSettings", Err: err}
	}
	return c
}

// config is the module's checked settings, or why it has none that work.
func (d *MDC) config() (config, error) {
	c := d.cfg.Load()
	if c == nil {
		return config{}, sdk.ErrStopped // an exec racing the module's start or stop
	}
	return *c, c.err
}
