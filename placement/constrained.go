package placement

import (
	"errors"
	"slices"
	"strings"
	"sync"
)

// Node is an up node as placement sees it: its id and labels.
type Node struct {
	ID     string
	Labels Labels
}

// ErrUnplaced is what an UnplacedError wraps.
var ErrUnplaced = errors.New("unplaced")

// UnplacedError says that no up node satisfies a constraint.
type UnplacedError struct{ Constraint Labels }

func (e *UnplacedError) Error() string { return "no node up with " + e.Constraint.String() }

func (e *UnplacedError) Unwrap() error { return ErrUnplaced }

// Placer hands out Plans, and keeps the rings of the node sets the latest plans used so that a
// membership change rebuilds only rings whose node set changed (a ring costs ~1 ms to build).
// It is safe for concurrent use.
type Placer struct {
	mu        sync.Mutex
	cur, prev map[string]*Ring // by the sorted ids joined with NUL: this generation's, the last one's
}

// NewPlacer returns a Placer with no rings cached.
func NewPlacer() *Placer { return &Placer{cur: map[string]*Ring{}} }

// Plan starts a generation for the given up nodes: rings the previous generation did not use are
// dropped.
func (p *Placer) Plan(up []Node) *Plan {
	nodes := slices.Clone(up)
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	nodes = slices.CompactFunc(nodes, func(a, b Node) bool { return a.ID == b.ID })
	p.mu.Lock()
	p.prev, p.cur = p.cur, map[string]*Ring{}
	p.mu.Unlock()
	pl := &Plan{p: p, nodes: nodes, memo: map[string]placed{}}
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	pl.all = p.ring(ids)
	return pl
}

// ring returns the ring of the sorted ids, cached.
func (p *Placer) ring(ids []string) *Ring {
	key := strings.Join(ids, "\x00")
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.cur[key]; r != nil {
		return r
	}
	r := p.prev[key]
	if r == nil {
		r = New(ids)
	}
	p.cur[key] = r
	return r
}

// Plan is the placement over one set of up nodes. A key under a constraint is owned by the ring
// of the up nodes that satisfy the constraint: that ring depends only on those nodes' ids, so it
// is the same on every node, and a change of one constraint, or of a node no constraint in use
// selects, moves no key placed under another. It is safe for concurrent use.
type Plan struct {
	p     *Placer
	nodes []Node // sorted by id
	all   *Ring

	mu   sync.Mutex
	memo map[string]placed // by constraint (Labels.String)
}

type placed struct {
	ring *Ring
	err  error
}

// All is the ring over every up node: the owner of unconstrained keys.
func (pl *Plan) All() *Ring { return pl.all }

// Ring returns the ring of the up nodes that satisfy c (every up node for an empty c), or an
// *UnplacedError when none does.
func (pl *Plan) Ring(c Labels) (*Ring, error) {
	if len(c) == 0 {
		return pl.all, nil
	}
	key := c.String()
	pl.mu.Lock()
	got, ok := pl.memo[key]
	pl.mu.Unlock()
	if ok {
		return got.ring, got.err
	}
	var ids []string
	for _, n := range pl.nodes {
		if c.Allows(n.Labels) {
			ids = append(ids, n.ID)
		}
	}
	if len(ids) == 0 {
		got.err = &UnplacedError{Constraint: c}
	} else {
		got.ring = pl.p.ring(ids)
	}
	pl.mu.Lock()
	pl.memo[key] = got
	pl.mu.Unlock()
	return got.ring, got.err
}

// Owner returns the node that owns key under constraint c, or an *UnplacedError.
func (pl *Plan) Owner(key string, c Labels) (string, error) {
	r, err := pl.Ring(c)
	if err != nil {
		return "", err
	}
	return r.Owner(key), nil
}
