package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis can lose data without the pub/sub connection dropping — FLUSHALL or FLUSHDB, an
// allkeys-* eviction, a replica promoted behind a proxy that kept the connection — and then no
// reconnect triggers the write-back. So each node keeps a marker key of its own, engine/node/<id>,
// holding the run id of the server it was written on, written at the start of every write-back
// (before the share: a loss after it takes the marker too) and checked every Options.LossCheck.
// Gone, or naming another server, means Redis no longer holds what the node wrote; so does a rise
// of the server's evicted_keys (the marker, read at every check, is the last key an LRU or LFU
// policy would evict). Then the node writes its whole share back and its OnReconnect listeners
// re-read, as after a reconnect.
//
// The marker has no TTL (an expiry must never look like a loss), each node has its own (several
// share one Redis and each must repair its own share), and its prefix is none the sweep deletes.

const (
	// defaultLossCheck is how often a node checks its marker: a loss is repaired within it, at the
	// cost of one script call (a GET, INFO server and INFO stats inside Redis) per node per period.
	defaultLossCheck = 5 * time.Second
	// markerTimeout bounds one marker check, and the marker's deletion in Close.
	markerTimeout = 2 * time.Second
)

// MarkerKey is the key holding the run id of the Redis server that holds what a node wrote.
func MarkerKey(nodeID string) string { return "engine/node/" + nodeID }

// serverLua sets id to the server's run id and ev to its evicted_keys count (an empty id and -1
// when INFO is refused, as by an ACL without @dangerous, or lacks them, as the embedded server's
// does: the marker then only tells a loss). tonumber is given a string only: the embedded
// server's Lua refuses tonumber(nil).
const serverLua = `
local id, ev = '', -1
local info = redis.pcall('INFO', 'server')
if type(info) == 'string' then id = string.match(info, 'run_id:(%x+)') or '' end
info = redis.pcall('INFO', 'stats')
if type(info) == 'string' then
  local n = string.match(info, 'evicted_keys:(%d+)')
  if n then ev = tonumber(n) end
end
`

// writeMarkerScript sets the marker to the server's run id and answers its evicted_keys count.
// KEYS[1] = the marker.
var writeMarkerScript = redis.NewScript(serverLua + `
redis.call('SET', KEYS[1], id)
return ev
`)

// checkMarkerScript answers {1 while the marker names this server else 0, evicted_keys}.
// KEYS[1] = the marker.
var checkMarkerScript = redis.NewScript(serverLua + `
if redis.call('GET', KEYS[1]) == id then return {1, ev} end
return {0, ev}
`)

// markerKey names this store's marker: the node's id, or a random one for a store given none (so
// two such stores on one Redis never share a marker).
func markerKey(nodeID string) string {
	if nodeID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		nodeID = "anonymous-" + hex.EncodeToString(b[:])
	}
	return MarkerKey(nodeID)
}

// writeMarker records that Redis now holds (or is about to hold) this node's share, and how many
// keys it had evicted by then.
func (s *Store) writeMarker(ctx context.Context) error {
	ev, err := writeMarkerScript.Run(ctx, s.client, []string{s.marker}).Int64()
	if err != nil {
		return redisErr("state: write the node's marker "+s.marker, err)
	}
	s.evicted.Store(ev)
	return nil
}

// checkMarker names what Redis lost since the marker was written ("" while nothing).
func (s *Store) checkMarker() (lost string, err error) {
	ctx, cancel := context.WithTimeout(s.ctx, markerTimeout)
	defer cancel()
	res, err := checkMarkerScript.Run(ctx, s.client, []string{s.marker}).Int64Slice()
	if err != nil {
		return "", err
	}
	if len(res) != 2 {
		return "", fmt.Errorf("state: check the node's marker: answer %v", res)
	}
	switch ok, ev, was := res[0] == 1, res[1], s.evicted.Load(); {
	case !ok:
		return "its marker is gone or names another server", nil
	case ev > was && was >= 0:
		// Any key evicted may be one of this node's: the write-back rewrites only what differs.
		return "it evicted keys", nil
	case ev < was:
		s.evicted.CompareAndSwap(was, ev) // CONFIG RESETSTAT: count from here
	}
	return "", nil
}

// lossLoop checks the marker every period while the pub/sub connection is up (while it is down the
// reconnect writes everything back anyway) and hands a loss to the reconnect loop, once per loss.
func (s *Store) lossLoop() {
	defer s.bg.Done()
	tick := time.NewTicker(s.opts.LossCheck)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		if !s.Connected() || s.lossPending.Load() {
			continue
		}
		why, err := s.checkMarker()
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Debug("checking this node's redis marker failed", "marker", s.marker, "error", err)
			}
			continue
		}
		if why == "" || s.lossPending.Swap(true) {
			continue
		}
		s.log.Warn("redis lost data while connected: writing this node's share back", "why", why, "marker", s.marker)
		select {
		case s.dataLost <- struct{}{}:
		default:
		}
	}
}

// deleteMarker removes the marker of a node that stops, so a node that leaves for good leaves
// nothing behind. Best effort: a crashed node's marker stays until it starts again.
func (s *Store) deleteMarker() {
	if !s.Connected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), markerTimeout)
	defer cancel()
	if err := s.client.Del(ctx, s.marker).Err(); err != nil {
		s.log.Debug("deleting this node's redis marker failed", "marker", s.marker, "error", err)
	}
}
