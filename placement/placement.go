package placement

import (
	"slices"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
)

// The ring's parameters; see the package comment for why these values.
const (
	partitionCount    = 271
	replicationFactor = 64
	load              = 1.1
)

type hasher struct{}

func (hasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

type member string

func (m member) String() string { return string(m) }

// Ring maps keys to nodes. It is immutable and safe for concurrent use.
type Ring struct {
	nodes []string
	c     *consistent.Consistent
}

func defaultConfig() consistent.Config {
	return consistent.Config{PartitionCount: partitionCount, ReplicationFactor: replicationFactor, Load: load, Hasher: hasher{}}
}

// New builds the ring of the given node ids (duplicates and empty ids ignored, order
// irrelevant). With no nodes every key's owner is "".
func New(nodeIDs []string) *Ring { return newRing(nodeIDs, defaultConfig()) }

func newRing(nodeIDs []string, cfg consistent.Config) *Ring {
	ids := slices.DeleteFunc(slices.Clone(nodeIDs), func(id string) bool { return id == "" })
	slices.Sort(ids)
	ids = slices.Compact(ids)
	members := make([]consistent.Member, len(ids))
	for i, id := range ids {
		members[i] = member(id)
	}
	return &Ring{nodes: ids, c: consistent.New(members, cfg)}
}

// Owner returns the node that owns key ("" when the ring is empty).
func (r *Ring) Owner(key string) string {
	if len(r.nodes) == 0 {
		return ""
	}
	return r.c.LocateKey([]byte(key)).String()
}

// Nodes returns the ring's node ids, sorted.
func (r *Ring) Nodes() []string { return slices.Clone(r.nodes) }
