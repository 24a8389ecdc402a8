package core

import (
	"maps"
	"slices"
	"strings"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/placement"
)

// Placement constraints (docs/protocol.md §10). A module with a constraint (its own, else its
// systems', else its driver's: model.Placement) is owned by the ring of the up nodes whose labels
// satisfy it; one that no up node satisfies is unplaced: no node runs it, an execute answers 503
// with the reason, and the status routes and /metrics list it, until a pass finds an eligible
// node up again. System lookups stay on the ring of every up node: they are Redis writes, which
// need no reach to a device.

// ErrUnplaced: no up node satisfies the module's placement constraint.
var ErrUnplaced = errkind.New(errkind.Unavailable, "module is unplaced")

// UnplacedModule is a running module no up node may host, in the status routes.
type UnplacedModule struct {
	ID        string `json:"id"`
	Placement string `json:"placement"` // the constraint, "site=b"
	Reason    string `json:"reason"`    // "no node up with site=b"
}

// place fills the view's constrained rings from plan for the model's constraints.
func (v *view) place(plan *placement.Plan, m *model.Model) {
	v.ring = plan.All()
	for id, c := range m.Placements() {
		r, err := plan.Ring(c)
		switch u := err.(type) {
		case nil:
			if r != v.ring {
				if v.placed == nil {
					v.placed = map[string]*placement.Ring{}
				}
				v.placed[id] = r
			}
		case *placement.UnplacedError:
			if v.unplaced == nil {
				v.unplaced = map[string]*placement.UnplacedError{}
			}
			v.unplaced[id] = u
		}
	}
}

// unplacedModules lists the running modules of m the view leaves unplaced, by id.
func (v *view) unplacedModules(m *model.Model) []UnplacedModule {
	out := []UnplacedModule{}
	if v == nil {
		return out
	}
	for _, id := range slices.Sorted(maps.Keys(v.unplaced)) {
		if mod := m.Modules[id]; mod != nil && mod.Running {
			u := v.unplaced[id]
			out = append(out, UnplacedModule{ID: id, Placement: u.Constraint.String(), Reason: v.reason(u)})
		}
	}
	return out
}

// unplacedErr is why no node may host the module, nil when one may.
func (c *Core) unplacedErr(moduleID string) error {
	v := c.view.Load()
	if v == nil || v.unplaced[moduleID] == nil {
		return nil
	}
	return errkind.Wrap(ErrUnplaced, nil, "module %q is unplaced: %s", moduleID, v.reason(v.unplaced[moduleID]))
}

// reason is why a constraint places nothing; when no member at all, up or down, satisfies it, it
// says so, as that is most likely a typo in the constraint or a node started without its labels.
func (v *view) reason(u *placement.UnplacedError) string {
	for _, n := range v.nodes {
		if u.Constraint.Allows(n.Labels) {
			return u.Error()
		}
	}
	return u.Error() + " (no member of the cluster has these labels)"
}

// noteUnplaced logs the constraints that leave running modules unplaced when that changes, and
// sets the gauge.
func (c *Core) noteUnplaced(old, cur *view) {
	m, _ := c.cfg.Store.Model()
	counts := func(v *view) map[string]int {
		out := map[string]int{}
		for _, u := range v.unplacedModules(m) {
			out[u.Placement]++
		}
		return out
	}
	now := counts(cur)
	c.cfg.Metrics.SetUnplaced(now)
	if cur.ring == nil || len(cur.ring.Nodes()) == 0 {
		return // not a member yet (a node starting): nothing is placed, nothing to tell
	}
	before := counts(old)
	for _, k := range slices.Sorted(maps.Keys(now)) {
		if before[k] == 0 {
			c.log.Warn("modules unplaced: no node up satisfies their placement", "placement", k, "modules", now[k])
		}
	}
	var placed []string
	for k := range before {
		if now[k] == 0 {
			placed = append(placed, k)
		}
	}
	if len(placed) > 0 {
		slices.Sort(placed)
		c.log.Info("modules placed again: a node satisfying their placement is up", "placement", strings.Join(placed, " "))
	}
}
