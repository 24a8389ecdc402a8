package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/metrics"
)

// Options configure a Store. Either URL or Client must be set.
type Options struct {
	// URL is a redis:// or rediss:// URL, or a Sentinel one (see NewClient); the Store creates
	// its own client and closes it on Close.
	URL string
	// Client is used instead of URL; the Store does not close it.
	Client *redis.Client
	Logger hclog.Logger
	// NodeID names this node, when the Store creates the client from URL, in the connections'
	// CLIENT name ("engine-<NodeID>"), so CLIENT LIST shows which node is which. (Log lines get
	// the node from Logger.)
	NodeID string
	// QueueSize is the default per-listener queue bound (default 256). A listener whose queue is
	// full when a message arrives is dropped. The queue grows from nothing as messages wait and
	// is given back once they are handled, so the bound costs nothing while a listener is idle.
	QueueSize int
	// IdleTimeout is how long the pub/sub connection may stay silent before it is pinged; a second
	// silent period with the ping unanswered counts as a dead connection (default 5s).
	IdleTimeout time.Duration
	// MaxBackoff caps the wait between pub/sub reconnect attempts (default 1s).
	MaxBackoff time.Duration
	// LossCheck is how often the node checks its marker key (loss.go) to notice that Redis lost
	// its data while the connection stayed up (default 5s; negative: never).
	LossCheck time.Duration
	// StartTimeout bounds how long New waits for the node's first pub/sub connection once Redis
	// answered its PING (default DefaultStartTimeout): a Redis that takes one connection and
	// refuses the next (maxclients reached) must fail the start with its reason, not hold it
	// silently.
	StartTimeout time.Duration
	// Metrics counts Redis errors and pub/sub reconnects; nil records nothing. It hooks the
	// go-redis client, so a Client passed in counts the errors of all its users.
	Metrics *metrics.Metrics
}

// Store is the node's view of Redis. It is safe for concurrent use.
type Store struct {
	opts      Options
	log       hclog.Logger
	client    *redis.Client
	ownClient bool
	cache     *cache
	share     *share   // what this node hosts, written back after every reconnect
	texts     interner // metadata texts, held once however many modules share them
	writes    *batcher // module writes (status, metadata), coalesced into pipelines

	ctx    context.Context // cancelled by Close; bounds the background goroutines
	cancel context.CancelFunc
	bg     sync.WaitGroup // reader, syncer, reconnect loop and loss check
	lwg    sync.WaitGroup // listener goroutines

	ps       atomic.Pointer[redis.PubSub]
	syncMu   sync.Mutex // serialises SUBSCRIBE/UNSUBSCRIBE so Redis sees them in decision order
	kick     chan struct{}
	back     chan struct{} // the pub/sub connection is back after a loss
	miss     chan struct{} // a write of this node's share failed
	dataLost chan struct{} // Redis lost data while connected (loss.go)
	marker   string        // this node's marker key (loss.go)

	keptLogged  atomic.Bool  // a status write was kept for the write-back during this outage
	lossPending atomic.Bool  // a loss is signalled and its write-back not finished
	evicted     atomic.Int64 // the server's evicted_keys when the marker was last written (-1: unknown)

	mu          sync.RWMutex // guards the pub/sub bookkeeping below
	closed      bool
	channels    map[string]*entry
	patterns    map[string]*entry
	dirty       map[*entry]struct{} // entries the syncer must look at
	pending     map[string]int      // subscribe confirmations still expected, by entry key
	unconfirmed int                 // sent entries not yet confirmed on the current connection
	up          bool                // every sent subscription is confirmed on the current connection
	everUp      bool
	startErr    error // why the first pub/sub connection is not up yet (New's error names it)
	firstUp     chan struct{}
	onRecon     map[*reconnectListener]struct{}
	closeOnce   sync.Once
}

// DefaultStartTimeout is Options.StartTimeout's default: long enough for a Redis that is busy
// loading or failing over, short enough that a start held by it ends with the reason.
const DefaultStartTimeout = 30 * time.Second

// setDefaults fills the options left zero.
func (o *Options) setDefaults() {
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 5 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Second
	}
	if o.LossCheck == 0 {
		o.LossCheck = defaultLossCheck
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
}

// New connects to Redis, opens the node's pub/sub connection and waits until it is subscribed to
// the cache-invalidation channels, so the caches are usable as soon as New returns.
func New(ctx context.Context, opts Options) (*Store, error) {
	opts.setDefaults()
	log := opts.Logger.Named("state")

	s := &Store{
		opts:     opts,
		log:      log,
		client:   opts.Client,
		cache:    newCache(),
		share:    newShare(),
		kick:     make(chan struct{}, 1),
		back:     make(chan struct{}, 1),
		miss:     make(chan struct{}, 1),
		dataLost: make(chan struct{}, 1),
		marker:   markerKey(opts.NodeID),
		channels: map[string]*entry{},
		patterns: map[string]*entry{},
		pending:  map[string]int{},
		dirty:    map[*entry]struct{}{},
		firstUp:  make(chan struct{}),
		onRecon:  map[*reconnectListener]struct{}{},
	}
	if s.client == nil {
		if opts.URL == "" {
			return nil, errors.New("state: Options needs URL or Client")
		}
		var name string
		if opts.NodeID != "" {
			name = "engine-" + opts.NodeID
		}
		c, err := NewClient(opts.URL, name)
		if err != nil {
			return nil, err
		}
		s.client = c
		s.ownClient = true
	}
	if opts.Metrics != nil {
		s.client.AddHook(errorHook{opts.Metrics})
	}
	s.writes = &batcher{client: s.client}
	if err := s.client.Ping(ctx).Err(); err != nil {
		err = withRefusal(ctx, s.client, err)
		s.closeClient()
		return nil, redisErr("state: ping redis", err)
	}
	s.evicted.Store(-1)
	if err := s.writeMarker(ctx); err != nil {
		// Not fatal (Redis answers, but refuses writes for now): the first loss check finds no
		// marker and writes it back with the share.
		log.Warn("writing this node's redis marker failed; the first loss check writes it", "marker", s.marker, "error", err)
	}

	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ps.Store(s.client.Subscribe(s.ctx))
	for _, ch := range []string{LookupChangeChannel, InterfaceChangeChannel} {
		e := newEntry(ch, false, true)
		s.channels[ch] = e
		s.dirty[e] = struct{}{}
	}
	s.bg.Add(3)
	go s.readLoop()
	go s.syncLoop()
	go s.reconnectLoop()
	if opts.LossCheck > 0 {
		s.bg.Add(1)
		go s.lossLoop()
	}
	s.kickSync()

	if err := s.waitUp(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the pub/sub reader, tells remaining listeners ErrClosed, closes the client if the
// Store created it and waits for every goroutine the Store started (writes under way end with
// the client).
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		var subs []*Subscription
		for _, m := range []map[string]*entry{s.channels, s.patterns} {
			for _, e := range m {
				for sub := range e.subs {
					subs = append(subs, sub)
				}
				clear(e.subs)
			}
		}
		recon := make([]*reconnectListener, 0, len(s.onRecon))
		for l := range s.onRecon {
			recon = append(recon, l)
		}
		clear(s.onRecon)
		s.mu.Unlock()

		s.cancel()
		// Under syncMu so a concurrent replacePubSub cannot swap in a connection nobody closes.
		s.syncMu.Lock()
		_ = s.ps.Load().Close() // unblocks the reader
		s.syncMu.Unlock()
		s.bg.Wait()
		s.deleteMarker()
		for _, sub := range subs {
			sub.stop(ErrClosed)
		}
		for _, l := range recon {
			l.stop()
		}
		s.lwg.Wait()
		s.closeClient()
		s.writes.close()
	})
	return nil
}

func (s *Store) closeClient() {
	if s.ownClient {
		_ = s.client.Close()
	}
}

// Client is the underlying go-redis client, for health checks (PING) by the caller.
func (s *Store) Client() *redis.Client { return s.client }

// redisErr classifies a Redis failure: the caller's deadline is a timeout, anything else means
// Redis is unavailable to us.
func redisErr(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w: %w", op, ErrTimeout, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

// setStatusScript compares and sets in one atomic step, so "unchanged values are not written"
// holds even with concurrent writers, and HSET+PUBLISH cost one round trip (EVALSHA; go-redis
// falls back to EVAL after a Redis restart empties the script cache). A pipeline cannot compare
// without a read first, which would be a second round trip and racy.
var setStatusScript = redis.NewScript(`
if ARGV[4] == '1' then
  if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
    redis.call('PUBLISH', ARGV[3], 'null')
    return 1
  end
  return 0
end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
`)

// clearStatusScript deletes the hash and publishes null per field atomically, so no subscriber
// can see a field vanish without its null.
var clearStatusScript = redis.NewScript(`
local fields = redis.call('HKEYS', KEYS[1])
if #fields == 0 then
  return 0
end
redis.call('DEL', KEYS[1])
for _, f in ipairs(fields) do
  redis.call('PUBLISH', ARGV[1] .. f, 'null')
end
return #fields
`)

var jsonNull = []byte("null")

// SetStatus stores one status value (JSON text) and publishes it on StatusChannel. A nil value or
// JSON null deletes the field and publishes "null". A value equal to the stored text, or a delete
// of an absent field, is neither written nor published and reports changed == false.
func (s *Store) SetStatus(ctx context.Context, moduleID, name string, value []byte) (changed bool, err error) {
	del := "0"
	trimmed := bytes.TrimSpace(value)
	if value == nil || bytes.Equal(trimmed, jsonNull) {
		del, value = "1", []byte{}
	} else if !json.Valid(value) {
		return false, fmt.Errorf("state: status %s.%s: %w", moduleID, name, ErrInvalidValue)
	}
	h := s.share.module(moduleID)
	if h != nil {
		// Remembered before it is sent: a value Redis misses is written back (share.go).
		h.mu.Lock()
		defer h.mu.Unlock()
		h.remember(name, value, del == "1")
		if s.keep(h, moduleID, name) {
			return true, nil
		}
	}
	n, err := s.writes.run(ctx, setStatusScript,
		[]string{StatusKey(moduleID)}, name, value, StatusChannel(moduleID, name), del).Int()
	if err != nil {
		err = redisErr(fmt.Sprintf("state: set status %s.%s", moduleID, name), err)
		if h != nil && s.kept(h, moduleID, name, err) {
			return true, nil
		}
		return false, err
	}
	return n == 1, nil
}

// ClearStatus deletes a module's whole status hash, publishing "null" for each field. Call it
// when a new instance of the module starts.
func (s *Store) ClearStatus(ctx context.Context, moduleID string) error {
	h := s.share.module(moduleID)
	if h != nil {
		h.mu.Lock()
		defer h.mu.Unlock()
		if !h.gone {
			clear(h.status)
		}
		if s.keep(h, moduleID, "") {
			return nil
		}
	}
	err := s.writes.run(ctx, clearStatusScript,
		[]string{StatusKey(moduleID)}, StatusChannel(moduleID, "")).Err()
	if err != nil {
		err = redisErr("state: clear status "+moduleID, err)
		if h != nil && s.kept(h, moduleID, "", err) {
			return nil
		}
		return err
	}
	return nil
}

// Status returns a module's status: name → JSON text; empty when the module has none.
func (s *Store) Status(ctx context.Context, moduleID string) (map[string]string, error) {
	m, err := s.client.HGetAll(ctx, StatusKey(moduleID)).Result()
	if err != nil {
		return nil, redisErr("state: read status "+moduleID, err)
	}
	return m, nil
}

// StatusValue returns one status value as JSON text; ok is false when it is not set.
func (s *Store) StatusValue(ctx context.Context, moduleID, name string) (value []byte, ok bool, err error) {
	v, err := s.client.HGet(ctx, StatusKey(moduleID), name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, redisErr(fmt.Sprintf("state: read status %s.%s", moduleID, name), err)
	}
	return v, true, nil
}

// SetLookup replaces system/<systemID> with entries (field "Name/N" → module id; none deletes
// it) inside one MULTI/EXEC, so readers see the old or the new hash and never a half-built one,
// and publishes the system id on lookup-change in the same transaction.
func (s *Store) SetLookup(ctx context.Context, systemID string, entries map[string]string) error {
	key := SystemKey(systemID)
	s.share.lookupMu.Lock()
	defer s.share.lookupMu.Unlock()
	s.share.rememberLookup(systemID, entries)
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		if len(entries) > 0 {
			p.HSet(ctx, key, entries)
		}
		p.Publish(ctx, LookupChangeChannel, systemID)
		return nil
	})
	// Drop our copy at once: the lookup-change echo would do it too, but a read on this node right
	// after SetLookup returns must see the new hash.
	s.cache.invalidateSystem(systemID)
	if err != nil {
		if s.share.owned(systemID) {
			s.missed()
		}
		return redisErr("state: set lookup "+systemID, err)
	}
	return nil
}

// DeleteLookup removes system/<systemID> and publishes lookup-change: SetLookup with no entries.
func (s *Store) DeleteLookup(ctx context.Context, systemID string) error {
	return s.SetLookup(ctx, systemID, nil)
}

// lookup returns the (possibly cached, shared: do not modify) lookup hash of a system.
func (s *Store) lookup(ctx context.Context, systemID string) (map[string]string, error) {
	if m, ok := s.cache.system(systemID); ok {
		return m, nil
	}
	if m, ok := s.share.lookup(systemID); ok {
		return m, nil // this node writes it: no need to ask Redis, which may be away
	}
	gen := s.cache.begin()
	m, err := s.client.HGetAll(ctx, SystemKey(systemID)).Result()
	if err != nil {
		return nil, redisErr("state: read lookup "+systemID, err)
	}
	s.cache.putSystem(gen, systemID, m)
	return m, nil
}

// Lookup returns a copy of system/<systemID> ("Name/N" → module id); ErrSystemNotFound when the
// hash does not exist. Cached.
func (s *Store) Lookup(ctx context.Context, systemID string) (map[string]string, error) {
	m, err := s.lookup(ctx, systemID)
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("state: %w: %s", ErrSystemNotFound, systemID)
	}
	return maps.Clone(m), nil
}

// ResolveModule returns the module id of the index-th module called name in a system (index < 1
// means 1). ErrSystemNotFound when the system has no lookup, ErrModuleNotFound when it has no
// such module. Cached: no Redis round trip while the lookup is unchanged.
func (s *Store) ResolveModule(ctx context.Context, systemID, name string, index int) (string, error) {
	m, err := s.lookup(ctx, systemID)
	if err != nil {
		return "", err
	}
	if len(m) == 0 {
		return "", fmt.Errorf("state: %w: %s", ErrSystemNotFound, systemID)
	}
	// The field is built on the stack: a map index by string(bytes) copies nothing.
	var buf [64]byte
	id, ok := m[string(appendLookupField(buf[:0], name, index))]
	if !ok {
		return "", fmt.Errorf("state: %w: %s in %s", ErrModuleNotFound, LookupField(name, index), systemID)
	}
	return id, nil
}

// setMetadataScript sets a module's metadata and announces it in one atomic step.
// KEYS[1] = interface/<module>; ARGV[1] = the JSON; ARGV[2] = the channel; ARGV[3] = the module.
var setMetadataScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`)

// SetMetadata stores a module's metadata JSON at interface/<moduleID> and announces it on
// InterfaceChangeChannel (one script: atomic) so every node drops its cached copy.
func (s *Store) SetMetadata(ctx context.Context, moduleID string, data []byte) error {
	if !json.Valid(data) {
		return fmt.Errorf("state: metadata of %s: %w", moduleID, ErrInvalidValue)
	}
	h := s.share.module(moduleID)
	if h != nil {
		h.mu.Lock()
		defer h.mu.Unlock()
		if !h.gone {
			meta := s.texts.intern(data)
			h.meta.Store(&meta)
		}
		// As a status write: the metadata of a module this node hosts is kept while Redis is
		// unavailable and written back when it returns, so the write succeeds (a module update
		// that failed on it would leave the driver and the node disagreeing on its config).
		if s.keep(h, moduleID, "metadata") {
			s.cache.invalidateMetadata(moduleID)
			return nil
		}
	}
	err := s.writes.run(ctx, setMetadataScript,
		[]string{InterfaceKey(moduleID)}, data, InterfaceChangeChannel, moduleID).Err()
	s.cache.invalidateMetadata(moduleID)
	if err != nil {
		// Classified first, as a status write's: a timed-out write (Redis frozen) is kept too.
		err = redisErr("state: set metadata "+moduleID, err)
		if h != nil && s.kept(h, moduleID, "metadata", err) {
			return nil
		}
		return err
	}
	return nil
}

// MetadataReadTimeout bounds a read of a module's metadata the cache does not hold: an execute
// waits for it, and a frozen Redis must not hold calls to the modules a node runs (their host
// falls back to the driver's metadata).
const MetadataReadTimeout = time.Second

// Metadata returns a module's metadata JSON (shared with the cache: do not modify it);
// ErrNoMetadata when absent. Cached.
func (s *Store) Metadata(ctx context.Context, moduleID string) ([]byte, error) {
	data, ok := s.cache.metadata(moduleID)
	if !ok {
		data, ok = s.share.metadata(moduleID) // this node writes it: Redis may be away
	}
	if !ok {
		gen := s.cache.begin()
		ctx, cancel := context.WithTimeout(ctx, MetadataReadTimeout)
		defer cancel()
		v, err := s.client.Get(ctx, InterfaceKey(moduleID)).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
			v = []byte{}
		case err != nil:
			return nil, redisErr("state: read metadata "+moduleID, err)
		default:
			v = s.texts.intern(v)
		}
		s.cache.putMetadata(gen, moduleID, v)
		data = v
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("state: %w: %s", ErrNoMetadata, moduleID)
	}
	return data, nil
}

// Publish sends msg on a channel.
func (s *Store) Publish(ctx context.Context, channel string, msg []byte) error {
	if err := s.client.Publish(ctx, channel, msg).Err(); err != nil {
		return redisErr("state: publish on "+channel, err)
	}
	return nil
}
