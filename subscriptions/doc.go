// Package subscriptions turns the node's single Redis pub/sub connection (package state) into
// status watches with the guarantees clients and drivers rely on. WebSocket binds and drivers'
// subscriptions to other modules both go through it (docs/protocol.md §7):
//
//   - no gap: a watch subscribes, waits for Redis to confirm, and only then reads the current
//     value, so a change made while it starts is either in the value read or delivered after it;
//     changes that arrive before the read completes are held back and replayed after it, skipping
//     those the read already covers, so the last value delivered is always the stored one;
//   - first value once: the current value (if the status exists) is delivered once; later
//     deliveries are changes only (a repeat of the value last delivered is suppressed);
//   - indirect watches (system + module name + index) follow the place, not the module: they
//     re-resolve on lookup-change, a module added to the system later starts delivering its
//     current value, a different module at the place delivers its value if it differs (null if
//     it has none), and a place a lookup-change empties delivers null, as a deleted status does
//     (a lookup missing after a Redis restart is not a removal: the owner writes it again);
//   - Redis reconnects: messages published while the connection was down are lost, so after it is
//     back every watch re-reads its value (and re-resolves its module) and delivers what changed,
//     including watches that never got their first value.
//
// Known limit: the read goes over a command connection and changes over the pub/sub connection,
// so a change published just before the read can reach us just after it; it is then delivered
// once more after the newer value read, before that value's own message (the client still ends
// on the stored value). Closing that window needs a barrier on the pub/sub connection (a PING
// whose reply is queued behind the messages), which package state does not offer yet.
//
// Watches of the same status channel share one state subscription (ref-counted: the first watch
// creates it, the last cancels it); its goroutine hands each message to every attached watch in
// turn. A watch attaching to a channel that is already live still gets its current value once,
// with the no-gap read above. If state drops the shared subscription (its queue overflowed,
// messages were lost), every watch still attached subscribes again and re-reads its value.
//
// Delivery never blocks the Redis reader: state gives every subscription a bounded queue, and
// callers' callbacks must themselves only enqueue (a WebSocket session drops a client that does
// not read); a callback that blocks holds up every watch of its channel.
package subscriptions
