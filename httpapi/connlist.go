package httpapi

import "container/heap"

// connList is an address's idle connections, oldest first, linked through the connections
// themselves: a connection joins and leaves the list on every request, which must cost no
// allocation.
type connList struct {
	head, tail *limitedConn
	n          int
}

func (l *connList) push(c *limitedConn) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	l.n++
}

func (l *connList) remove(c *limitedConn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
	l.n--
}

// oldest is the connection to close first for room, nil if the list is empty: the oldest of the
// first oldestScan the server is blocked reading, waiting on its client, else the oldest. One
// not read yet (just accepted, its goroutine has not run) may have its request already there:
// closing it would throw that away.
func (l *connList) oldest() *limitedConn {
	i := 0
	for c := l.head; c != nil && i < oldestScan; c, i = c.next, i+1 {
		if c.waiting.Load() {
			return c
		}
	}
	return l.head
}

// oldestScan bounds the walk of oldest: it runs under the limiter's lock, for every newcomer
// during a flood.
const oldestScan = 64

// addrHeap orders the addresses holding idle connections, the one holding most first
// (container/heap), so that the connection closed for room is taken from the biggest holder.
type addrHeap []*addrConns

func (h addrHeap) Len() int { return len(h) }

// Less: more idle connections first; of two holding as many, the one idle the longest (a flood
// from many addresses, one connection each, is closed oldest first).
func (h addrHeap) Less(i, j int) bool {
	if h[i].idle.n != h[j].idle.n {
		return h[i].idle.n > h[j].idle.n
	}
	return h[i].idle.head.idleSince < h[j].idle.head.idleSince
}
func (h addrHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].at, h[j].at = i, j
}
func (h *addrHeap) Push(x any) {
	a := x.(*addrConns)
	a.at = len(*h)
	*h = append(*h, a)
}
func (h *addrHeap) Pop() any {
	old := *h
	a := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	a.at = -1
	return a
}

// update puts a in its place after its idle count changed.
func (h *addrHeap) update(a *addrConns) {
	switch {
	case a.idle.n == 0 && a.at >= 0:
		heap.Remove(h, a.at)
	case a.idle.n > 0 && a.at < 0:
		heap.Push(h, a)
	case a.at >= 0:
		heap.Fix(h, a.at)
	}
}
