package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/placeos-go/engine/errkind"
)

// SystemModule describes one module of a system. Hosts that know it send it in the control
// system JSON under "module_info"; the system proxy then resolves names and interfaces locally.
type SystemModule struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Index      int      `json:"index"`
	Implements []string `json:"implements,omitempty"`
}

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

// All is every module of the system called name.
func (s *SystemProxy) All(name string) Collection {
	sys, _ := s.b.ControlSystem()
	if len(sys.ModuleInfo) > 0 {
		var c Collection
		for _, mi := range sys.ModuleInfo {
			if mi.Name == name {
				c.members = append(c.members, &Proxy{b: s.b, Target: In(name, mi.Index)})
			}
		}
		return c
	}
	// Without module_info the names are unknown here: ask for every index the system could
	// have; the places that do not exist answer "not found" and are left out of the results.
	c := Collection{lenient: true}
	for i := range max(len(sys.Modules), 1) {
		c.members = append(c.members, &Proxy{b: s.b, Target: In(name, i+1)})
	}
	return c
}

// Implementing is every module of the system whose driver implements the named interface
// ("Powerable"). Without module_info from the host it falls back to duck typing: every module
// is called and the ones without the function are left out.
func (s *SystemProxy) Implementing(iface string) Collection {
	sys, _ := s.b.ControlSystem()
	var c Collection
	if len(sys.ModuleInfo) > 0 {
		for _, mi := range sys.ModuleInfo {
			if slices.Contains(mi.Implements, iface) {
				c.members = append(c.members, &Proxy{b: s.b, Target: In(mi.Name, mi.Index)})
			}
		}
		return c
	}
	c.lenient = true
	for _, id := range sys.Modules {
		if id != s.b.ModuleID() {
			c.members = append(c.members, &Proxy{b: s.b, Target: ByID(id)})
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
	lenient bool // drop "no such module" and "unknown function" answers (resolution by probing)
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
	keep := make([]bool, len(c.members))
	var wg sync.WaitGroup
	for i, p := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := p.Exec(ctx, fn, args...)
			out[i] = Outcome{Target: p.Target, Value: v, Err: err}
			keep[i] = !(c.lenient && absent(err))
		}()
	}
	wg.Wait()
	res := out[:0]
	for i, o := range out {
		if keep[i] {
			res = append(res, o)
		}
	}
	return res
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
	}
	return fmt.Sprintf("%d of %d calls failed: %s", len(e.Failed), e.Total, strings.Join(msgs, "; "))
}

// Unwrap returns the first failure.
func (e *CollectionError) Unwrap() error { return e.Failed[0].Err }

// absent reports an answer meaning "no module there" or "that module has no such function".
func absent(err error) bool {
	de, ok := err.(*errkind.DriverError)
	if !ok {
		return false
	}
	switch {
	case de.Code == 404:
		return true
	case de.Code == 400 && strings.Contains(de.Message, "unknown function"):
		return true
	}
	return false
}
