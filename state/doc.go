// Package state is the only package that speaks Redis (docs/protocol.md §3). It owns:
//
//   - module status: the hash status/<module> and the channel status/<module>/<name>, written with
//     a compare-and-set script so an unchanged value is neither written nor published;
//   - system lookups: the hash system/<system> (field "Name/N" → module id), replaced atomically
//     and announced on lookup-change;
//   - driver metadata at interface/<module>, announced on engine/interface-change (our own
//     channel, so other nodes can drop their cached copy);
//   - the node's single pub/sub connection, fanned out in-process to many listeners through
//     bounded per-listener queues;
//   - in-memory caches of lookups and metadata, so resolving an execute makes no Redis round trip
//     while nothing changed.
//
// Cache coherence rests on the pub/sub connection: a cache is only used while that connection is
// subscribed to the invalidation channels, and it is emptied whenever the connection drops,
// because messages published while it was down are lost.
package state
