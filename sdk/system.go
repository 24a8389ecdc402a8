package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/placeos-go/engine/plugin/metadata"
)

// SystemModule is one module of a logic module's system, as the host describes it under
// "module_info" in the control system JSON (ControlSystem.ModuleInfo): its id, its name and
// 1-based index in the system, and what its driver reports in its metadata: the interfaces it
// implements and its functions' wire names. The host sends it with the module's start and again,
// as an update (OnUpdate), whenever the system's modules or their metadata change; a module
// whose driver has not reported its metadata yet has no interfaces and functions until it does.
type SystemModule = metadata.SystemModule

// SystemProxy is a logic module's handle on its system (Base.System): its description and the
// other modules, by Name_N, by name or by interface. Every call goes through the host with the
// user of the ctx it is given.
type SystemProxy struct{ b *Base }

// System returns the proxy of the module's system.
func (b *Base) System() *SystemProxy { return &SystemProxy{b: b} }

// Info is the system's description; ok is false for a module that is not a logic module.
func (s *SystemProxy) Info() (ControlSystem, bool) { return s.b.ControlSystem() }

// Module is the module name_index (1-based) of the system.
func (s *SystemProxy) Module(name string, index int) *Proxy {
	return &Proxy{b: s.b, Target: In(name, index)}
}

// Get is the module a slug names: "Display_2", or "Display" for Display_1.
func (s *SystemProxy) Get(slug string) *Proxy { return &Proxy{b: s.b, Target: Slug(slug)} }

// All is every module of the system called name, in index order.
func (s *SystemProxy) All(name string) Collection {
	return s.collect(func(mi SystemModule) bool { return mi.Name == name })
}

// Implementing is every module of the system whose driver implements iface ("Powerable"), or
// has a function of that wire name ("power"), as PlaceOS's implements? reads it; the logic
// module itself is left out.
func (s *SystemProxy) Implementing(iface string) Collection {
	self := s.b.ModuleID()
	return s.collect(func(mi SystemModule) bool {
		return mi.ID != self && (slices.Contains(mi.Implements, iface) || slices.Contains(mi.Functions, iface))
	})
}

// collect is the modules of the system's module_info that match, in the system's order.
func (s *SystemProxy) collect(match func(SystemModule) bool) Collection {
	sys, _ := s.b.ControlSystem()
	var c Collection
	for _, mi := range sys.ModuleInfo {
		if match(mi) {
			c.members = append(c.members, &Proxy{b: s.b, Target: In(mi.Name, mi.Index)})
		}
	}
	return c
}

// Proxy is another module as a logic driver sees it.
type Proxy struct {
	b      *Base
	Target Target
}

// Exec calls fn with positional arguments (or one sdk.Named) and returns the JSON result.
func (p *Proxy) Exec(ctx context.Context, fn string, args ...any) (json.RawMessage, error) {
	return p.b.Exec(ctx, p.Target, fn, args...)
}

// Call calls fn and decodes the result into out (nil: ignored).
func (p *Proxy) Call(ctx context.Context, out any, fn string, args ...any) error {
	raw, err := p.Exec(ctx, fn, args...)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s.%s answered %s: %w", p.Target, fn, abbreviate(raw), err)
	}
	return nil
}

// Status reads status name into v; found is false when it is not set.
func (p *Proxy) Status(ctx context.Context, name string, v any) (bool, error) {
	return p.b.StatusOf(ctx, p.Target, name, v)
}

// Subscribe follows status name (see Base.Subscribe); the host re-resolves Name_N when the
// system changes.
func (p *Proxy) Subscribe(ctx context.Context, name string, fn func(json.RawMessage)) (cancel func()) {
	return p.b.Subscribe(ctx, p.Target, name, fn)
}

// Collection is a set of modules called together.
type Collection struct {
	members []*Proxy
}

// Outcome is one module's answer to a collection call.
type Outcome struct {
	Target Target
	Value  json.RawMessage
	Err    error
}

// Modules are the proxies of the collection's members.
func (c Collection) Modules() []*Proxy { return append([]*Proxy(nil), c.members...) }

// Exec calls fn on every member at once and gathers the outcomes in member order.
func (c Collection) Exec(ctx context.Context, fn string, args ...any) []Outcome {
	out := make([]Outcome, len(c.members))
	var wg sync.WaitGroup
	for i, p := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := p.Exec(ctx, fn, args...)
			out[i] = Outcome{Target: p.Target, Value: v, Err: err}
		}()
	}
	wg.Wait()
	return out
}

// Err joins the failures of outcomes (nil when every call succeeded) into a *CollectionError.
func Err(outcomes []Outcome) error {
	var failed []Outcome
	for _, o := range outcomes {
		if o.Err != nil {
			failed = append(failed, o)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &CollectionError{Failed: failed, Total: len(outcomes)}
}

// CollectionError is the failure of a collection call: which members failed, and why. It
// unwraps to the first failure, so the exec caller gets that module's error code and class.
type CollectionError struct {
	Failed []Outcome
	Total  int
}

func (e *CollectionError) Error() string {
	msgs := make([]string, len(e.Failed))
	for i, o := range e.Failed {
		msgs[i] = o.Target.String() + ": " + o.Err.Error()
		// Only the first failure's class reaches the caller as the class: name each one's
		// (but the default, which says nothing).
		if se := (*Error)(nil); errors.As(o.Err, &se) && se.Class() != "Error" {
			msgs[i] += " (" + se.Class() + ")"
		}
	}
	return fmt.Sprintf("%d of %d calls failed: %s", len(e.Failed), e.Total, strings.Join(msgs, "; "))
}

// Unwrap returns the first failure.
func (e *CollectionError) Unwrap() error { return e.Failed[0].Err }
