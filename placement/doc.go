// Package placement owns the consistent-hash ring that decides which node hosts what: a module
// is owned by Owner(module id), a system's lookup by Owner(system id). The ring is built from the
// ids of the nodes that are up in committed Raft state, and it depends on nothing else (not on
// the order of the ids, not on the node that computes it), so every node computes the same owner
// for every key.
//
// The ring is github.com/buraksezer/consistent v1.0.0 (consistent hashing with bounded loads),
// configured from measurements (TestChooseConfig prints the table: worst balance over 8 sets of
// node names with 1000 module ids on 3 nodes, and the mean share of keys moved when a 4th node
// joins and when one of 3 leaves, as multiples of the ideal 1/4 and 1/3):
//
//	hash    parts  rf  load | balance  join  leave
//	xxhash    271  64  1.10 |   1.143 1.034  1.023   <- chosen
//	xxhash    271  64  1.25 |   1.206 1.050  1.007
//	xxhash   1021  64  1.25 |   1.290 1.024  1.002
//	xxhash   4093  64  1.10 |   1.140 1.076  1.024
//	xxhash    271  20  1.25 |   1.269 1.029  1.014
//	fnv64a    271  64  1.10 |   1.191 1.205  1.120
//
// Why these values:
//   - hash: xxhash64 (github.com/cespare/xxhash/v2, already a dependency). The library places
//     partitions by hashing their numbers as 8-byte integers; FNV-1a mixes such short, similar
//     inputs poorly and moved 20% more keys than ideal on join at the same settings.
//   - partition count: 271 (prime, the library's default). With 1000 keys, key sampling noise
//     dominates the balance beyond ~271 partitions, while more partitions moved slightly more keys
//     on join; 271 still gives 27 partitions per node on 10 nodes.
//   - replication factor: 64 virtual points per node, which evens out the ring between few nodes
//     (20 gave visibly worse balance).
//   - load: 1.10: no node holds more than 110% of the average number of partitions, which caps
//     the worst node's share; movement stays within 1.05x of ideal.
//
// Constraints (constrained.go, labels.go). A module may carry a placement constraint, label
// equality such as site=hq, which a node satisfies when its labels (engine serve --labels) hold
// every pair. A Plan, made from the up nodes and their labels, owns a constrained key by the ring
// of the up nodes that satisfy the constraint, built from their sorted ids like any ring: so every
// node computes the same owner, bounded load holds within the group, a node joining or leaving
// moves only the keys of the constraints it satisfies (within 1.3x of the ideal for the group:
// TestConstrainedMovement, make bench family sites), and adding, removing or changing one key's
// constraint moves that key only. With no eligible node up the key is unplaced (UnplacedError:
// "no node up with site=b"). A Placer caches the rings of the node sets in use, as a ring takes
// about a millisecond to build.
//
// Every node of a cluster must run the same version of this package and of the library: a
// change here changes owners, so it is a cluster-wide upgrade.
package placement
