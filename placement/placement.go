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
	// owners is the owner of every partition, read off c once: Owner is on every execute's path,
	// and consistent's own look-up takes a lock and a []byte copy of the key.
	owners []string
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
	r := &Ring{nodes: ids, c: consistent.New(members, cfg)}
	if _, ours := cfg.Hasher.(hasher); ours && len(ids) > 0 {
		r.owners = make([]string, cfg.PartitionCount)
		for i := range r.owners {
			r.owners[i] = r.c.GetPartitionOwner(i).String()
		}
	}
	return r
}

// Owner returns the node that owns key ("" when the ring is empty). It is consistent's
// LocateKey (the key's partition, by the ring's hash, and that partition's owner) without its
// lock and copy.
func (r *Ring) Owner(key string) string {
	switch {
	case len(r.nodes) == 0:
		return ""
	case r.owners == nil: // another hasher (the package's tests compare some)
		return r.c.LocateKey([]byte(key)).String()
	}
	return r.owners[xxhash.Sum64String(key)%uint64(len(r.owners))]
}

// Nodes returns the ring's node ids, sorted.
func (r *Ring) Nodes() []string { return slices.Clone(r.nodes) }
