// Package state is the only package that speaks Redis (docs/protocol.md §3). It owns:
//
//   - module status: the hash status/<module> and the channel status/<module>/<name>, written with
//     a compare-and-set script so an unchanged value is neither written nor published;
//   - system lookups: the hash system/<system> (field "Name/N" → module id), replaced atomically
//     and announced on lookup-change;
//   - driver metadata at interface/<module>, announced on engine/interface-change (our own
//     channel, so other nodes can drop their cached copy);
//   - the node's single pub/sub connection, fanned out in-process to many listeners through
//     bounded per-listener queues, each with a goroutine that exists only while messages wait
//     (an idle listener holds neither), so quiet status channels cost almost nothing;
//   - modules' start failures (moderrors.go): the hash engine/module_errors, which the node
//     hosting a module writes and every node reads to show has_runtime_error on module reads;
//   - a module deleted from the model (forget.go): ForgetModule removes its status hash (null
//     published per field), its metadata (announced on engine/interface-change) and its
//     engine/module_errors field in one script, and drops it from this node's share;
//   - in-memory caches of lookups and metadata, so resolving an execute makes no Redis round trip
//     while nothing changed; kept (still answering, no longer filled) while the pub/sub
//     connection is lost, emptied when it is back (cache.go);
//   - this node's share of Redis (share.go): core tells the store which modules the node hosts
//     and which systems it owns (Host, Unhost, OwnSystems); the store keeps the last status
//     values, metadata and lookup it wrote for them and, every time the pub/sub connection comes
//     back from a loss, writes back whatever Redis does not hold as written, publishing each
//     change — before the OnReconnect listeners re-read. A Redis restarted empty, or a replica
//     Sentinel promoted before the last writes reached it, is whole again with no driver change.
//     The share also answers lookups and metadata this node writes when the cache has not got
//     them, so executes on what the node hosts need no Redis at all.
//   - noticing data Redis lost while the connection stayed up (loss.go): FLUSHALL, FLUSHDB,
//     eviction, a promoted replica behind a kept connection. The node's marker engine/node/<id>
//     holds the run id of the server it was written on; every Options.LossCheck (5 s) one script
//     reads it with INFO server and stats, and a marker gone, naming another server, or a rise of
//     evicted_keys gets the share written back and the OnReconnect listeners told, as a reconnect.
//   - the cluster's record engine/cluster (clusterrecord.go): the leader keeps it (KeepCluster),
//     written whenever Redis does not hold it as written and written back with the share.
//
// The URL may name a Sentinel master (redis://sentinel:26379/0?master_name=m&addr=s2:26379): the
// store then uses go-redis's failover client, which asks the sentinels for the current primary on
// every new connection, so after a failover both the command connections and the pub/sub
// connection follow the promoted replica.
//
// Cache coherence rests on the pub/sub connection: a cache is only used while that connection is
// subscribed to the invalidation channels, and it is emptied whenever the connection drops,
// because messages published while it was down are lost.
package state
