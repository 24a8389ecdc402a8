package state

import "sync"

// cache holds system lookups and module metadata. It is filled only while the pub/sub connection
// is subscribed to the invalidation channels (valid); every invalidation bumps gen so that a fill
// which read Redis before the invalidation cannot store the stale answer after it.
//
// When the connection is lost the cache is kept and still answers (stale-if-error): a Redis that
// is down changes nothing, so what was true stays true and executes keep reaching drivers through
// the outage. If only the node's own connection was cut while Redis stayed up, a change another
// node made meanwhile is missed until the connection is back — and then the cache is emptied, so
// that window is bounded by the reconnect.
type cache struct {
	mu      sync.RWMutex
	valid   bool
	gen     uint64
	systems map[string]map[string]string // empty map: the system is known to be absent
	meta    map[string][]byte            // empty slice: the module is known to have no metadata
}

func newCache() *cache {
	return &cache{systems: map[string]map[string]string{}, meta: map[string][]byte{}}
}

// system returns the cached lookup of id; ok is false when it must be read from Redis.
func (c *cache) system(id string) (entries map[string]string, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	entries, ok = c.systems[id]
	return entries, ok
}

func (c *cache) metadata(id string) (data []byte, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	data, ok = c.meta[id]
	return data, ok
}

// begin is called before reading Redis for a fill; the returned generation goes to put*.
func (c *cache) begin() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *cache) putSystem(gen uint64, id string, entries map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && c.gen == gen {
		c.systems[id] = entries
	}
}

func (c *cache) putMetadata(gen uint64, id string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && c.gen == gen {
		c.meta[id] = data
	}
}

func (c *cache) invalidateSystem(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.systems, id)
}

func (c *cache) invalidateMetadata(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.meta, id)
}

// suspend stops filling the cache (the connection is lost): what it holds still answers.
func (c *cache) suspend() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.valid = false
}

// reset empties the cache and fills it again from now on (the connection is back: what was missed
// is forgotten).
func (c *cache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.valid = true
	clear(c.systems)
	clear(c.meta)
}
