// Package lazyq is a bounded FIFO whose consumer goroutine exists only while there is work.
//
// A node holds thousands of WebSocket sessions and Redis listeners, nearly all idle nearly all
// the time. Each needs an ordered, bounded queue with one consumer, and a channel plus a
// goroutine per queue would cost a preallocated buffer (a 256-slot channel of slices is 6 KiB)
// and a parked goroutine stack (at least 2 KiB, often 8) for every idle one. A Queue instead
// grows its ring from nothing as items arrive, lets it go once it is empty, and starts its
// consumer on the first push; the consumer lingers a little after the last item, so a steady
// stream reuses one goroutine rather than starting one per item, and then ends.
//
// The bound counts items waiting, not the one being handled, as a channel's capacity does: a
// Push past it fails and the owner decides what a full queue means (package state drops the
// listener, httpapi disconnects the client). A second, optional bound weighs the items (Size,
// MaxSize): a count alone lets 256 one-megabyte messages wait.
package lazyq
