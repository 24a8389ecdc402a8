package state

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/redis/go-redis/v9"
)

// This node's share of Redis. The node hosting a module is the only writer of its status and
// metadata, and the node owning a system the only writer of its lookup (docs/protocol.md §3). So
// the store keeps the last value this node wrote of each, for what core says the node hosts
// (Host, Unhost, OwnSystems), and writes all of it back every time the pub/sub connection comes
// back from a loss: a Redis that restarted empty, or a replica that Sentinel promoted before the
// last writes reached it, is made whole again without a driver having to change anything.
//
// A write is remembered before it is sent, so a value Redis never received (it was down, or
// failing over) is written back too. Each module's writes and its write-back are serialised by
// the module's own lock, and lookups by one lock, so a write-back never puts an older value over
// a newer one. On the leader the share includes the cluster's record (clusterrecord.go).

const (
	// writeBackBatch is how many modules one write-back round trip carries.
	writeBackBatch = 128
	// writeBackTimeout bounds one attempt at writing the share back.
	writeBackTimeout = 30 * time.Second
	// quietWriteBack is how long failed write-back attempts log at DEBUG before WARN.
	quietWriteBack = 2 * time.Second
)

// hosted is what this node last wrote for one module it hosts.
type hosted struct {
	mu     sync.Mutex        // held across each write of the module and its write-back
	gone   bool              // unhosted: nothing more is remembered or written back
	status map[string][]byte // status name → JSON text
	// meta is the metadata as last written (nil until then). Atomic: executes read it without
	// waiting behind a status write, which holds mu across its round trip.
	meta atomic.Pointer[[]byte]
}

// share is everything the node hosts and owns, with what it last wrote of each.
type share struct {
	mu      sync.RWMutex
	modules map[string]*hosted
	systems map[string]map[string]string // system id → lookup as last written (nil: none yet)

	lookupMu sync.Mutex // held across every lookup write and the lookups' write-back

	clusterMu sync.Mutex // held across every write of the cluster's record (clusterrecord.go)
	cluster   []byte     // the record this node, as leader, keeps in Redis (nil: none)
}

func newShare() *share {
	return &share{modules: map[string]*hosted{}, systems: map[string]map[string]string{}}
}

// module returns the module's record, nil when this node does not host it.
func (sh *share) module(id string) *hosted {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.modules[id]
}

// owned reports whether this node writes the system's lookup.
func (sh *share) owned(id string) bool {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	_, ok := sh.systems[id]
	return ok
}

// Host tells the store this node now hosts a module: from now on it keeps the last value written
// for each of the module's statuses, and its metadata, and writes them back after Redis comes
// back from a loss. Call it before the module's driver may set a status (core does, before every
// start). Hosting a module already hosted changes nothing.
func (s *Store) Host(moduleID string) {
	s.share.mu.Lock()
	defer s.share.mu.Unlock()
	if s.share.modules[moduleID] == nil {
		s.share.modules[moduleID] = &hosted{status: map[string][]byte{}}
	}
}

// Unhost forgets a module this node no longer hosts (stopped, or gone to another node): nothing of
// it is written back any more, and later writes for it are not remembered. Redis keeps what it
// holds.
func (s *Store) Unhost(moduleID string) {
	s.share.mu.Lock()
	h := s.share.modules[moduleID]
	delete(s.share.modules, moduleID)
	s.share.mu.Unlock()
	if h != nil {
		h.mu.Lock()
		h.gone, h.status = true, nil
		h.meta.Store(nil)
		h.mu.Unlock()
	}
}

// OwnSystems names every system whose lookup this node writes. The store keeps the last lookup
// written for each of them (SetLookup) and writes it back after Redis comes back from a loss; the
// lookups of systems no longer named are forgotten.
func (s *Store) OwnSystems(systemIDs []string) {
	s.share.mu.Lock()
	defer s.share.mu.Unlock()
	keep := make(map[string]bool, len(systemIDs))
	for _, id := range systemIDs {
		keep[id] = true
		if _, ok := s.share.systems[id]; !ok {
			s.share.systems[id] = nil
		}
	}
	for id := range s.share.systems {
		if !keep[id] {
			delete(s.share.systems, id)
		}
	}
}

// Hosted reports how many modules and systems the store writes back after a reconnect.
func (s *Store) Hosted() (modules, systems int) {
	s.share.mu.RLock()
	defer s.share.mu.RUnlock()
	return len(s.share.modules), len(s.share.systems)
}

// metadata is what this node last wrote as the metadata of a module it hosts. This node is the
// only writer of it, so it is as true as Redis (truer while Redis is away); ok is false when the
// module is not hosted here or its metadata not written yet.
func (sh *share) metadata(moduleID string) ([]byte, bool) {
	if h := sh.module(moduleID); h != nil {
		if meta := h.meta.Load(); meta != nil {
			return *meta, true
		}
	}
	return nil, false
}

// lookup is the lookup this node last wrote for a system it owns (empty: deleted), as metadata.
func (sh *share) lookup(systemID string) (map[string]string, bool) {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	e := sh.systems[systemID]
	return e, e != nil
}

// remember records one status write of a hosted module (h.mu held); del removes the field.
func (h *hosted) remember(name string, value []byte, del bool) {
	if h.gone {
		return
	}
	if del {
		delete(h.status, name)
		return
	}
	h.status[name] = bytes.Clone(value)
}

// rememberLookup records the lookup this node wrote for a system it owns (lookupMu held).
func (sh *share) rememberLookup(systemID string, entries map[string]string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.systems[systemID]; ok {
		e := maps.Clone(entries)
		if e == nil {
			e = map[string]string{}
		}
		sh.systems[systemID] = e
	}
}

// writeBackStatusScript makes a module's status hash exactly what its host last wrote: each field
// that differs is written and published, each field the host does not have (deleted while Redis
// could not hear it, or left over on a promoted replica) is deleted with a null published. Fields
// that already match are neither written nor published, so a reconnect that lost nothing is
// silent. KEYS[1] = status/<module>; ARGV[1] = the channel prefix status/<module>/; then name,
// value pairs.
var writeBackStatusScript = redis.NewScript(`
local want = {}
local n = 0
for i = 2, #ARGV, 2 do
  want[ARGV[i]] = true
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i+1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
    redis.call('PUBLISH', ARGV[1] .. ARGV[i], ARGV[i+1])
    n = n + 1
  end
end
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not want[f] then
    redis.call('HDEL', KEYS[1], f)
    redis.call('PUBLISH', ARGV[1] .. f, 'null')
    n = n + 1
  end
end
return n
`)

// writeBackValueScript sets a string key and announces it unless it already holds the value.
// KEYS[1] = the key; ARGV[1] = the value; ARGV[2] = the channel; ARGV[3] = the message.
var writeBackValueScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`)

// writeBackLookupScript replaces a lookup hash and announces it unless it already holds exactly
// these entries. KEYS[1] = system/<id>; ARGV[1] = the channel; ARGV[2] = the system id; then
// field, module id pairs (none: the hash must not exist).
var writeBackLookupScript = redis.NewScript(`
local cur = redis.call('HGETALL', KEYS[1])
if #cur == #ARGV - 2 then
  local want = {}
  for i = 3, #ARGV, 2 do want[ARGV[i]] = ARGV[i+1] end
  local same = true
  for i = 1, #cur, 2 do
    if want[cur[i]] ~= cur[i+1] then same = false break end
  end
  if same then return 0 end
end
redis.call('DEL', KEYS[1])
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`)

// writeBackResult counts one write-back.
type writeBackResult struct {
	modules, statuses, metadata, lookups int // written back (compared, and rewritten if they differed)
	cluster                              int // 1: the cluster's record, kept by this node as leader
	changed                              int // fields, metadata, lookups and record Redis did not hold as written
}

// writeBack writes this node's share back to Redis: the cluster's record if it leads, every
// hosted module's statuses and metadata, then every owned system's lookup, each only where Redis
// differs, with the same announcements as the original writes.
func (s *Store) writeBack(ctx context.Context) (writeBackResult, error) {
	var res writeBackResult
	// First, so that a loss during or after the write-back takes the marker too (loss.go).
	if err := s.writeMarker(ctx); err != nil {
		return res, err
	}
	if err := s.writeBackCluster(ctx, &res); err != nil {
		return res, err
	}
	s.share.mu.RLock()
	mods := make([]*hosted, 0, len(s.share.modules))
	ids := make([]string, 0, len(s.share.modules))
	for id, h := range s.share.modules {
		mods = append(mods, h)
		ids = append(ids, id)
	}
	nsys := len(s.share.systems)
	s.share.mu.RUnlock()
	if len(mods) == 0 && nsys == 0 {
		return res, nil
	}
	// A restarted Redis has no scripts: load them once, then send EVALSHA in pipelines.
	for _, sc := range []*redis.Script{writeBackStatusScript, writeBackValueScript, writeBackLookupScript} {
		if err := sc.Load(ctx, s.client).Err(); err != nil {
			return res, redisErr("state: write back: load script", err)
		}
	}
	for start := 0; start < len(mods); start += writeBackBatch {
		end := min(start+writeBackBatch, len(mods))
		if err := s.writeBackModules(ctx, ids[start:end], mods[start:end], &res); err != nil {
			return res, err
		}
	}
	if err := s.writeBackLookups(ctx, &res); err != nil {
		return res, err
	}
	return res, nil
}

// writeBackModules writes one batch of modules back in one round trip, holding their locks so
// that no newer write of theirs can land before it.
func (s *Store) writeBackModules(ctx context.Context, ids []string, mods []*hosted, res *writeBackResult) error {
	for _, h := range mods {
		h.mu.Lock()
	}
	defer func() {
		for _, h := range mods {
			h.mu.Unlock()
		}
	}()
	pipe := s.client.Pipeline()
	var cmds []*redis.Cmd
	var withMeta []string
	for i, h := range mods {
		if h.gone {
			continue
		}
		id := ids[i]
		args := make([]any, 0, 1+2*len(h.status))
		args = append(args, StatusChannel(id, ""))
		for name, v := range h.status {
			args = append(args, name, v)
		}
		cmds = append(cmds, writeBackStatusScript.EvalSha(ctx, pipe, []string{StatusKey(id)}, args...))
		res.modules++
		res.statuses += len(h.status)
		if meta := h.meta.Load(); meta != nil {
			cmds = append(cmds, writeBackValueScript.EvalSha(ctx, pipe, []string{InterfaceKey(id)}, *meta, InterfaceChangeChannel, id))
			withMeta = append(withMeta, id)
			res.metadata++
		}
	}
	if len(cmds) == 0 {
		return nil
	}
	_, err := pipe.Exec(ctx)
	for _, id := range withMeta {
		s.cache.invalidateMetadata(id)
	}
	if err != nil {
		return redisErr("state: write back module status and metadata", err)
	}
	for _, c := range cmds {
		n, _ := c.Int()
		res.changed += n
	}
	return nil
}

// writeBackLookups writes every owned system's lookup back in one round trip.
func (s *Store) writeBackLookups(ctx context.Context, res *writeBackResult) error {
	s.share.lookupMu.Lock()
	defer s.share.lookupMu.Unlock()
	s.share.mu.RLock()
	systems := make(map[string]map[string]string, len(s.share.systems))
	for id, e := range s.share.systems {
		if e != nil { // nil: owned, but this node has not written it yet
			systems[id] = e
		}
	}
	s.share.mu.RUnlock()
	if len(systems) == 0 {
		return nil
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.Cmd, 0, len(systems))
	for id, entries := range systems {
		args := make([]any, 0, 2+2*len(entries))
		args = append(args, LookupChangeChannel, id)
		for f, m := range entries {
			args = append(args, f, m)
		}
		cmds = append(cmds, writeBackLookupScript.EvalSha(ctx, pipe, []string{SystemKey(id)}, args...))
	}
	_, err := pipe.Exec(ctx)
	for id := range systems {
		s.cache.invalidateSystem(id)
	}
	if err != nil {
		return redisErr("state: write back lookups", err)
	}
	res.lookups = len(systems)
	for _, c := range cmds {
		n, _ := c.Int()
		res.changed += n
	}
	return nil
}

// keep reports whether a status write of a hosted module (h.mu held, the write remembered) is
// only kept, not sent: while the pub/sub connection is lost, Redis is down or failing over, and
// every write would wait out the client's retries to fail. The reconnect writes it back. A status
// write that is kept has succeeded as far as the driver is concerned: nothing of it is lost.
func (s *Store) keep(h *hosted, moduleID, name string) bool {
	if h.gone || s.Connected() {
		return false
	}
	s.keeping(moduleID, name)
	return true
}

// kept reports whether a status write of a hosted module that Redis did not take (h.mu held, the
// write remembered) is kept for the write-back rather than failed: when Redis is unavailable.
func (s *Store) kept(h *hosted, moduleID, name string, err error) bool {
	s.missed()
	// A write that timed out (Redis frozen, or too slow) may or may not have landed: either way
	// the value is remembered, and the write-back makes Redis hold it.
	if h.gone || !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrTimeout) {
		return false
	}
	s.keeping(moduleID, name)
	return true
}

// keeping logs a status (or metadata) write kept for the write-back: once per outage at WARN,
// each at DEBUG.
func (s *Store) keeping(moduleID, name string) {
	if !s.keptLogged.Swap(true) {
		s.log.Warn("redis unavailable: status and metadata writes of the modules this node hosts are kept and written back when it returns",
			"first_module", moduleID)
	}
	if s.log.IsDebug() {
		s.log.Debug("status kept for the write-back", "module", moduleID, "status", name)
	}
}

// missed records that a write of this node's share failed. If Redis is gone the reconnect writes
// everything back; if not (a failover under way, a refused command) the reconnect loop writes the
// share back as soon as Redis takes it, so a failed write that is never repeated is not lost.
func (s *Store) missed() {
	select {
	case s.miss <- struct{}{}:
	default:
	}
}

// reconnectLoop writes this node's share back on every return of the pub/sub connection after a
// loss (retrying until it succeeds or the connection is lost again) and only then tells the
// OnReconnect listeners, so that what they read again is already whole; the same after a loss of
// data while connected (loss.go); and after a failed write.
func (s *Store) reconnectLoop() {
	defer s.bg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.back:
			s.keptLogged.Store(false)
			s.writeBackAndTell("redis is back")
		case <-s.dataLost:
			s.writeBackAndTell("redis lost data")
			s.lossPending.Store(false)
		case <-s.miss:
			if s.Connected() { // else the reconnect writes it all back
				s.writeBackUntilDone("a write failed")
			}
		}
	}
}

// writeBackAndTell writes the share back, then tells the OnReconnect listeners to re-read.
func (s *Store) writeBackAndTell(why string) {
	s.writeBackUntilDone(why)
	s.mu.RLock()
	for l := range s.onRecon {
		l.signal()
	}
	s.mu.RUnlock()
}

// writeBackUntilDone writes the share back, retrying with backoff while the connection stays up.
func (s *Store) writeBackUntilDone(why string) {
	backoff := 50 * time.Millisecond
	start := time.Now()
	for attempt := 1; ; attempt++ {
		began := time.Now()
		ctx, cancel := context.WithTimeout(s.ctx, writeBackTimeout)
		res, err := s.writeBack(ctx)
		cancel()
		if err == nil {
			if res.modules+res.lookups+res.cluster > 0 {
				s.log.Info("wrote this node's share of redis back", "why", why,
					"modules", res.modules, "statuses", res.statuses, "metadata", res.metadata,
					"lookups", res.lookups, "cluster_record", res.cluster, "rewritten", res.changed, "took", time.Since(began).Round(time.Microsecond))
			}
			return
		}
		if s.ctx.Err() != nil {
			return
		}
		if !s.Connected() {
			// Lost again: the next return writes everything back anyway.
			s.log.Debug("redis lost again while writing this node's share back", "error", err)
			return
		}
		// Right after the pub/sub connection returns, the command pool can still be failing fast
		// on its earlier dial errors (go-redis retries its dial about once a second): quiet
		// until that is over.
		level := hclog.Debug
		if time.Since(start) >= quietWriteBack {
			level = hclog.Warn
		}
		s.log.Log(level, "writing this node's share back to redis failed; retrying", "attempt", attempt, "error", err, "retry_in", backoff)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, max(s.opts.MaxBackoff, 50*time.Millisecond))
	}
}
