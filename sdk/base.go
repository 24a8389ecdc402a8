package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
)

// Base is embedded in every driver struct. The SDK fills it when it creates the driver value
// for a module; its methods are the driver's view of its module and of the host. A Base that was
// not filled (a driver value made outside the SDK) logs nowhere and reports no settings.
type Base struct {
	m *module
}

func (b *Base) sdkBase() *Base { return b }

// ModuleConfig is the module's configuration as the host sent it.
type ModuleConfig struct {
	ID, DriverID, Name, Role, CustomName, Notes string
	IP                                          string
	Port                                        int
	TLS, UDP, MakeBreak                         bool
	URI                                         string
}

// ControlSystem is the system a logic module runs in.
type ControlSystem struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Modules     []string        `json:"modules"`
	Zones       []string        `json:"zones,omitempty"`
	Settings    json.RawMessage `json:"settings,omitempty"`
	Email       string          `json:"email,omitempty"`
	Features    []string        `json:"features,omitempty"`
	Bookable    bool            `json:"bookable,omitempty"`
	Capacity    int             `json:"capacity,omitempty"`
	Timezone    string          `json:"timezone,omitempty"`
	ModuleInfo  []SystemModule  `json:"module_info,omitempty"` // when the host sends it
	Raw         json.RawMessage `json:"-"`                     // the JSON as received
}

var nullLogger = hclog.NewNullLogger()

// ModuleID is the id of the module this driver value serves.
func (b *Base) ModuleID() string {
	if b.m == nil {
		return ""
	}
	return b.m.id
}

// Config returns the module's current configuration.
func (b *Base) Config() ModuleConfig {
	if b.m == nil {
		return ModuleConfig{}
	}
	c := b.m.config()
	return ModuleConfig{
		ID: c.GetId(), DriverID: c.GetDriverId(), Name: c.GetName(), Role: c.GetRole(),
		CustomName: c.GetCustomName(), Notes: c.GetNotes(), IP: c.GetIp(), Port: int(c.GetPort()),
		TLS: c.GetTls(), UDP: c.GetUdp(), MakeBreak: c.GetMakebreak(), URI: c.GetUri(),
	}
}

// ControlSystem returns the system a logic module runs in; ok is false for other modules.
func (b *Base) ControlSystem() (ControlSystem, bool) {
	if b.m == nil {
		return ControlSystem{}, false
	}
	b.m.mu.RLock()
	defer b.m.mu.RUnlock()
	if b.m.system == nil {
		return ControlSystem{}, false
	}
	return *b.m.system, true
}

// Logger is the module's logger. Lines go to the host log (hclog JSON on stderr, which go-plugin
// lifts into the host's log) and, while debugging is on for the module, to debug listeners.
// Inside a function prefer sdk.Log(ctx): the same logger with the request's request_id and user.
func (b *Base) Logger() hclog.Logger {
	if b.m == nil {
		return nullLogger
	}
	return b.m.log
}

// Context lives as long as the module: it ends when the module is stopped or restarted.
func (b *Base) Context() context.Context {
	if b.m == nil {
		return context.Background()
	}
	return b.m.ctx
}

// Go runs fn in a goroutine that belongs to the module: fn's context ends when the module stops,
// and stopping waits for fn to return. Once the module is stopping fn does not run at all.
func (b *Base) Go(fn func(ctx context.Context)) {
	if b.m == nil {
		return
	}
	m := b.m
	m.spawn(func() { fn(m.ctx) })
}

// Set sets a status. The value is JSON-encoded; only a change travels to the host. Statuses set
// before the host connection exists are kept and sent once it does. Set does not wait for the
// engine: a value it refuses (over 1 MiB, the module's statuses full) is dropped and logged, and
// Flush returns the refusal.
func (b *Base) Set(name string, value any) {
	if b.m == nil {
		return
	}
	raw, err := json.Marshal(value)
	if err != nil {
		b.m.log.Error("status value cannot be encoded as JSON", "status", name, "error", err)
		return
	}
	if bytes.Equal(raw, []byte("null")) {
		b.Delete(name)
		return
	}
	b.m.statusMu.Lock()
	defer b.m.statusMu.Unlock()
	if old, ok := b.m.status[name]; ok && bytes.Equal(old, raw) {
		return
	}
	b.m.status[name] = raw
	b.m.out.push(statusUpdate{name: name, value: raw})
}

// Flush waits until the statuses set before it have reached the engine, and returns the engine's
// refusal of a status set since the last Flush, if it refused one: an *Error, 400 BadRequest (a
// value over 1 MiB, or the module's statuses full: 1,024 names or 16 MiB). Set does not wait;
// a driver that must know its statuses were taken flushes. A refused status is not kept: Status
// does not report it.
func (b *Base) Flush(ctx context.Context) error {
	if b.m == nil {
		return nil
	}
	if err := b.m.out.flush(ctx); err != nil {
		return err
	}
	return b.m.out.takeRefusal()
}

// Delete removes a status (the host publishes null).
func (b *Base) Delete(name string) {
	if b.m == nil {
		return
	}
	b.m.statusMu.Lock()
	defer b.m.statusMu.Unlock()
	if _, ok := b.m.status[name]; !ok {
		return
	}
	delete(b.m.status, name)
	b.m.out.push(statusUpdate{name: name, del: true})
}

// Status decodes the module's own status name into v; false if it is not set or does not decode.
func (b *Base) Status(name string, v any) bool {
	if b.m == nil {
		return false
	}
	b.m.statusMu.Lock()
	raw, ok := b.m.status[name]
	b.m.statusMu.Unlock()
	return ok && json.Unmarshal(raw, v) == nil
}

// Settings decodes the module's merged settings into v (a pointer to a struct or map). Into the
// type declared with SettingsType, a setting that is absent takes its default tag, and one
// outside its minimum, maximum or enum is an error naming it (wrapping ErrBadSettings).
func (b *Base) Settings(v any) error {
	raw := json.RawMessage("{}")
	if b.m != nil {
		b.m.mu.RLock()
		raw = b.m.settings
		b.m.mu.RUnlock()
		if st := b.m.rt.dt.settings; st.reads(v) {
			return st.read(raw, v)
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return settingsError("", err)
	}
	return nil
}

// Setting decodes the top-level setting key into v. It wraps ErrSettingNotFound when absent.
func (b *Base) Setting(key string, v any) error {
	var all map[string]json.RawMessage
	if err := b.Settings(&all); err != nil {
		return err
	}
	raw, ok := all[key]
	if !ok {
		return fmt.Errorf("setting %q: %w", key, ErrSettingNotFound)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return settingsError(key, err)
	}
	return nil
}

// settingsError names the offending key: encoding/json reports the field path of a type error.
func settingsError(key string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		path := te.Field
		if key != "" && path != "" {
			path = key + "." + path
		} else if key != "" {
			path = key
		}
		if path != "" {
			return fmt.Errorf("%w: setting %q: cannot use JSON %s as %s", ErrBadSettings, path, te.Value, te.Type)
		}
		return fmt.Errorf("%w: cannot use JSON %s as %s", ErrBadSettings, te.Value, te.Type)
	}
	if key != "" {
		return fmt.Errorf("%w: setting %q: %w", ErrBadSettings, key, err)
	}
	return fmt.Errorf("%w: %w", ErrBadSettings, err)
}
