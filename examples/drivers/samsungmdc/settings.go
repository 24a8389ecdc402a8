package main

import (
	"time"

	"github.com/placeos-go/engine/sdk"
)

// Settings of a Samsung display module. The SDK applies the defaults and refuses values out of
// range with an error naming the setting; the module then does not start.
type Settings struct {
	DisplayID   int    `json:"display_id,omitempty" minimum:"0" maximum:"254" description:"the display's ID from its menu, 0-253; 254 broadcasts to every display on the chain, which never answers"`
	PowerOff    string `json:"power_off,omitempty" enum:"standby,panel" default:"standby" description:"what power(false) does: standby (MDC power off; the display must keep its network in standby to be turned on again) or panel (only the panel goes dark; the display stays on the network)"`
	PollSeconds int    `json:"poll_seconds,omitempty" minimum:"-1" default:"30" description:"how often the status is read back, in seconds; -1 turns the poll off"`
}

// config is what the functions need of the settings.
type config struct {
	id         byte
	panelPower bool
	poll       time.Duration // 0: no poll
}

// applySettings reads the settings and (re)schedules the poll. Bad settings are an error, and
// the module keeps what it had.
func (d *MDC) applySettings() error {
	var s Settings
	if err := d.Settings(&s); err != nil {
		return err
	}
	c := config{id: byte(s.DisplayID), panelPower: s.PowerOff == "panel"}
	if s.PollSeconds > 0 {
		c.poll = time.Duration(s.PollSeconds) * time.Second
	}
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
	return nil
}

// config is the module's settings as the functions use them.
func (d *MDC) config() (config, error) {
	c := d.cfg.Load()
	if c == nil {
		return config{}, sdk.ErrStopped // an exec racing the module's start
	}
	return *c, nil
}
