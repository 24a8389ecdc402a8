package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/placeos-go/engine/metrics"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/placement"
)

// Forwarder carries a write made on a follower to the leader. The implementation (package peer:
// POST /api/core/v1/cluster/apply on the leader's cluster port) sends cmd to leaderAddr — the
// leader's Raft address, which is its cluster port — where the handler calls
// Store.ApplyForwarded, and returns that call's error with its errkind kind preserved (400 stays
// BadRequest, 404 NotFound, 409 Conflict, 503 Unavailable); an unreachable leader is an
// errkind.Unavailable error.
type Forwarder interface {
	Forward(ctx context.Context, leaderAddr string, cmd []byte) error
}

// Network is the cluster port the Raft transport shares with the node-to-node calls (package
// peer): the connections that carry Raft, and a dialer that reaches the other nodes' ports (with
// this node's certificate when the cluster has TLS).
type Network interface {
	Raft() net.Listener
	Dial(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error)
}

// Config configures a Store. NodeID, DataDir, RaftAddr and HTTPAddr are required.
type Config struct {
	NodeID string
	// DataDir is the node's data directory; Raft keeps raft.db and snapshots in DataDir/raft.
	DataDir string
	// RaftAddr is the TCP listen address of the transport ("127.0.0.1:7000"; port 0 picks one)
	// when there is no Network.
	RaftAddr string
	// Network, when set, carries the transport instead of a listener of its own on RaftAddr.
	Network Network
	// AdvertiseRaft is the address peers dial; default the listen address.
	AdvertiseRaft string
	// HTTPAddr is this node's advertised HTTP address, recorded in the node table so that
	// followers can forward to the leader and peers can route to owners.
	HTTPAddr string
	// Labels are this node's labels (engine serve --labels), recorded in the node table.
	Labels placement.Labels
	// NonVoter makes this node join as a Raft non-voter (--voter=false): it replicates the log
	// but never votes nor counts towards the quorum, so a remote site adds no latency or risk to
	// it.
	NonVoter bool
	// TimeoutScale multiplies every Raft timeout; 1 (the default) suits a LAN.
	TimeoutScale float64
	// DownAfter is how long a follower's heartbeats must fail before the leader marks it down.
	DownAfter time.Duration
	// RemoveAfter is how long a node may stay down before the leader removes it from the Raft
	// configuration (never below quorum).
	RemoveAfter time.Duration
	// ApplyTimeout bounds a write whose context has no deadline.
	ApplyTimeout time.Duration
	// Forwarder carries follower writes to the leader; without one a follower write fails.
	Forwarder Forwarder
	Logger    hclog.Logger
	// Metrics records the Raft state, leader changes and apply latency; nil records nothing.
	Metrics *metrics.Metrics
	// Secrets seals the protected settings of every write this node accepts before it enters
	// the Raft log, and opens them for readers cleared to see them. Every node of a cluster needs
	// the same key; nil refuses writes that carry protected settings.
	Secrets *model.Keyring
	// Certificate is the fingerprint of this node's cluster certificate as it is now
	// (clustertls.Material.Fingerprint: it changes on a reload); nil without TLS. The node
	// records it in its node table entry, so that its removal revokes it (revoke.go).
	Certificate func() string
}

// Defaults.
const (
	DefaultDownAfter    = 2 * time.Second
	DefaultRemoveAfter  = 5 * time.Minute
	DefaultApplyTimeout = 5 * time.Second
)

// timing holds the timeouts derived from Config.TimeoutScale.
type timing struct {
	heartbeat, election, lease, commit time.Duration
	transport                          time.Duration // RPC I/O deadline
	quiet                              time.Duration // no failures for this long after a leader change means up
	check                              time.Duration // failure detector period
	leaderWait                         time.Duration // how long a write waits for a leader to appear
	forwardWait                        time.Duration // how long a forwarded write waits for the leader's answer
}

func newTiming(scale float64, downAfter time.Duration) timing {
	d := func(base time.Duration) time.Duration { return time.Duration(float64(base) * scale) }
	t := timing{
		// A follower waits 1-2 heartbeat timeouts without contact before it stands for election;
		// 250 ms gives a new leader in roughly 0.3-0.7 s on loopback or a quiet LAN.
		heartbeat: d(250 * time.Millisecond),
		election:  d(250 * time.Millisecond),
		lease:     d(200 * time.Millisecond),
		commit:    d(10 * time.Millisecond),
		transport: d(time.Second),
	}
	t.quiet = t.transport + t.heartbeat
	// Often: a pass only reads what the observations recorded, and a dead node is marked down on
	// the first pass after its port refused a heartbeat.
	t.check = min(max(downAfter/20, 20*time.Millisecond), 100*time.Millisecond)
	t.leaderWait = 2*t.heartbeat + 2*t.election
	t.forwardWait = t.leaderWait + t.transport
	return t
}

// Store is a Raft node with its FSM. It implements core's ModelStore.
type Store struct {
	cfg    Config
	log    hclog.Logger
	timing timing
	id     raft.ServerID

	raft     *raft.Raft
	fsm      *FSM
	barriers barriers
	caughtUp atomic.Bool // a barrier asked for after the node opened came back (barrier.go)
	// olderLeader: a leader refused a barrier (an older version); logged once (barrier.go)
	olderLeader atomic.Bool
	openedAt    time.Time
	ledUntil    atomic.Int64 // unix nanoseconds when this node last stopped leading (LeaderContact)
	trans       *raft.NetworkTransport
	bolt        *raftboltdb.BoltStore
	stable      *closingStable // bolt as Raft's stable store (stable.go)
	logs        raft.LogStore
	snaps       raft.SnapshotStore

	raftNotify chan bool // raft's NotifyCh
	leaderCh   chan bool // ours: 1-buffered, latest value wins
	leading    atomic.Bool
	obsCh      chan raft.Observation
	observer   *raft.Observer
	health     *health

	watchMu  sync.Mutex
	watchers map[chan struct{}]struct{}

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closed    atomic.Bool
	leaving   atomic.Bool // Leave began: ensureSelf no longer puts this node's entry back
	closeOnce sync.Once
	closeErr  error
}

// Open starts the Raft node: it opens (or creates) DataDir/raft and listens on RaftAddr. A new
// node has no configuration until Bootstrap or until a leader adds it (Join).
func Open(cfg Config) (*Store, error) {
	switch {
	case cfg.NodeID == "":
		return nil, fmt.Errorf("%w: node id is required", ErrConfig)
	case cfg.DataDir == "":
		return nil, fmt.Errorf("%w: data dir is required", ErrConfig)
	case cfg.RaftAddr == "" && cfg.Network == nil:
		return nil, fmt.Errorf("%w: raft address is required", ErrConfig)
	case cfg.HTTPAddr == "":
		return nil, fmt.Errorf("%w: http address is required", ErrConfig)
	case cfg.Labels.Check() != nil:
		return nil, fmt.Errorf("%w: %w", ErrConfig, cfg.Labels.Check())
	case cfg.TimeoutScale < 0:
		return nil, fmt.Errorf("%w: timeout scale %v is negative", ErrConfig, cfg.TimeoutScale)
	}
	if cfg.TimeoutScale == 0 {
		cfg.TimeoutScale = 1
	}
	if cfg.DownAfter <= 0 {
		cfg.DownAfter = DefaultDownAfter
	}
	if cfg.RemoveAfter <= 0 {
		cfg.RemoveAfter = DefaultRemoveAfter
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = DefaultApplyTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	log := cfg.Logger.Named("raft")
	s := &Store{
		cfg:        cfg,
		log:        log,
		timing:     newTiming(cfg.TimeoutScale, cfg.DownAfter),
		id:         raft.ServerID(cfg.NodeID),
		raftNotify: make(chan bool, 1),
		leaderCh:   make(chan bool, 1),
		obsCh:      make(chan raft.Observation, 256),
		health:     newHealth(),
		watchers:   map[chan struct{}]struct{}{},
	}
	s.openedAt = time.Now()
	s.fsm = NewFSM(s.broadcast)
	s.barriers.waiting = map[string]chan struct{}{}
	s.fsm.barrier = s.barriers.applied
	if err := s.open(); err != nil {
		s.closeStores()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.observer = raft.NewObserver(s.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation,
			raft.RaftState, raft.LeaderObservation:
			return true
		}
		return false
	})
	s.raft.RegisterObserver(s.observer)
	cfg.Metrics.SetRaftState(s.raft.State().String())
	s.wg.Add(4)
	go s.monitorLeadership()
	go s.consumeObservations()
	go s.keepEntryCurrent()
	go s.catchUp()
	log.Info("raft started", "raft_addr", s.RaftAddr(), "http_addr", cfg.HTTPAddr)
	return s, nil
}

func (s *Store) open() error {
	dir := filepath.Join(s.cfg.DataDir, "raft")
	// The log and snapshots hold the whole model, settings included: the engine's user alone
	// reads them (bolt opens raft.db 0600, privateSnapshots makes snapshots private).
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("raftfsm: %w", err)
	}
	var err error
	if s.bolt, err = openBolt(filepath.Join(dir, "raft.db")); err != nil {
		return fmt.Errorf("raftfsm: open log store: %w", err)
	}
	if s.logs, err = raft.NewLogCache(512, &suffixLog{LogStore: s.bolt}); err != nil {
		return fmt.Errorf("raftfsm: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, s.log.Named("snapshots"))
	if err != nil {
		return fmt.Errorf("raftfsm: open snapshot store: %w", err)
	}
	if s.snaps, err = newPrivateSnapshots(dir, snaps); err != nil {
		return err
	}
	var advertise net.Addr
	if s.cfg.AdvertiseRaft != "" {
		if advertise, err = net.ResolveTCPAddr("tcp", s.cfg.AdvertiseRaft); err != nil {
			return fmt.Errorf("%w: advertise address %q: %w", ErrConfig, s.cfg.AdvertiseRaft, err)
		}
	}
	if s.cfg.Network != nil {
		layer := &streamLayer{Listener: s.cfg.Network.Raft(), dial: s.cfg.Network.Dial, advertise: advertise,
			refused: func(addr string) { s.health.refused(raft.ServerAddress(addr), time.Now()) }}
		if tcp, ok := layer.Addr().(*net.TCPAddr); !ok || tcp.IP.IsUnspecified() {
			return fmt.Errorf("%w: the cluster port listens on %s, which other nodes cannot dial: give the address they use (--advertise-raft)", ErrConfig, layer.Addr())
		}
		s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: layer, MaxPool: 3, Timeout: s.timing.transport, Logger: s.log.Named("transport"),
			MaxRPCsInFlight: noPipelining,
		})
	} else if s.trans, err = raft.NewTCPTransportWithConfig(s.cfg.RaftAddr, advertise, &raft.NetworkTransportConfig{
		MaxPool: 3, Timeout: s.timing.transport, Logger: s.log.Named("transport"), MaxRPCsInFlight: noPipelining,
	}); err != nil {
		return fmt.Errorf("raftfsm: raft transport on %s: %w", s.cfg.RaftAddr, err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = s.id
	rc.Logger = newQuietLogger(s.log)
	rc.NotifyCh = s.raftNotify
	rc.HeartbeatTimeout = s.timing.heartbeat
	rc.ElectionTimeout = s.timing.election
	rc.LeaderLeaseTimeout = s.timing.lease
	rc.CommitTimeout = s.timing.commit
	s.stable = &closingStable{StableStore: s.bolt}
	if s.raft, err = raft.NewRaft(rc, s.fsm, s.logs, s.stable, s.snaps, s.trans); err != nil {
		return fmt.Errorf("raftfsm: start raft: %w", err)
	}
	if err := s.checkSecretsKey(); err != nil {
		return fmt.Errorf("raftfsm: the Raft state in %s: %w", dir, err)
	}
	return nil
}

// checkSecretsKey refuses to open state that holds protected settings this node's key cannot
// open (it has another key, or none): such a node could start none of those modules and would
// answer admins with errors, so it is better told at start-up. NewRaft has restored the latest
// snapshot into the FSM; the commands after it are read from the log.
func (s *Store) checkSecretsKey() error {
	m, _ := s.fsm.Model()
	if err := m.File().CheckSealed(s.cfg.Secrets); err != nil {
		return err
	}
	var snapIndex uint64
	if metas, err := s.snaps.List(); err == nil && len(metas) > 0 {
		snapIndex = metas[0].Index
	}
	first, err1 := s.logs.FirstIndex()
	last, err2 := s.logs.LastIndex()
	if err1 != nil || err2 != nil || last == 0 {
		return nil
	}
	for i := max(first, snapIndex+1); i <= last; i++ {
		var l raft.Log
		if s.logs.GetLog(i, &l) != nil || l.Type != raft.LogCommand {
			continue
		}
		if f, ok := applyFile(l.Data); ok {
			if err := f.CheckSealed(s.cfg.Secrets); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) closeStores() {
	if s.raft != nil {
		// Raft started but the node is refused (checkSecretsKey): its shutdown closes the
		// transport too.
		_ = s.raft.Shutdown().Error()
	} else if s.trans != nil {
		_ = s.trans.Close()
	}
	if s.bolt != nil {
		_ = s.bolt.Close()
	}
}

// Bootstrap makes this node the first voter of a new cluster. It does nothing when the node
// already has Raft state (a restart, or a node that was joined before).
func (s *Store) Bootstrap(_ context.Context) error {
	has, err := raft.HasExistingState(s.logs, s.bolt, s.snaps)
	if err != nil {
		return fmt.Errorf("raftfsm: bootstrap: %w", err)
	}
	if has {
		s.log.Info("bootstrap skipped: raft state exists")
		return nil
	}
	if s.cfg.NonVoter {
		return fmt.Errorf("%w: a non-voter cannot start a cluster: bootstrap a voter and join this node to it", ErrConfig)
	}
	err = s.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: s.id, Address: s.trans.LocalAddr(),
	}}}).Error()
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("raftfsm: bootstrap: %w", err)
	}
	s.log.Info("bootstrapped a new cluster")
	return nil
}

// Close stops the node without leaving the cluster (the others see it as failed). It waits for
// every goroutine the Store started.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		shut := make(chan error, 1)
		go func() { shut <- s.raft.Shutdown().Error() }()
		select {
		case err := <-shut:
			if err != nil {
				s.closeErr = fmt.Errorf("raftfsm: shutdown: %w", err)
			}
		case <-time.After(shutdownWait):
			// Seen once with the whole cluster stopping at once: a replication to a peer that had
			// just gone never returned, and Shutdown waits for it. The node stops without it; its
			// log is as safe as after a crash.
			s.closeErr = fmt.Errorf("raftfsm: raft did not shut down within %s; stopping without it", shutdownWait)
			s.log.Error("raft did not shut down in time; the node stops without it (its state is as after a crash, which Raft recovers from)", "waited", shutdownWait)
			s.cancel()
			return
		}
		s.raft.DeregisterObserver(s.observer)
		s.cancel()
		s.wg.Wait()
		s.stable.close() // a heartbeat still being handled must not write to a closed store
		if err := s.bolt.Close(); err != nil && s.closeErr == nil {
			s.closeErr = fmt.Errorf("raftfsm: close log store: %w", err)
		}
		s.log.Info("raft stopped")
	})
	return s.closeErr
}

// noPipelining is the transports' MaxRPCsInFlight: each append to a follower waits for its answer
// (hashicorp/raft's replicateTo) instead of going down a pipeline. A pipelined append the
// follower refused (its disk full, a newer term) stops the pipeline's decoder; the leader may
// still send one more, which then waits for the decoder's hand-off forever, so that follower got
// no entry again (only heartbeats) while that leader led, and the leader's Raft never shut down
// (TestFollowerFailingAppendsCatchesUp). Two in flight, the library's default, gained nothing
// measurable on a LAN (hashicorp/raft#541).
const noPipelining = 1

// shutdownWait bounds how long Close waits for Raft to shut down.
const shutdownWait = 10 * time.Second

// ID returns this node's id.
func (s *Store) ID() string { return s.cfg.NodeID }

// RaftAddr returns the address peers use to reach this node's transport.
func (s *Store) RaftAddr() string { return string(s.trans.LocalAddr()) }

// Term is the Raft term this node is in: it moves only with elections, so an unexpected change
// is worth an operator's look.
func (s *Store) Term() uint64 { return s.raft.CurrentTerm() }

// self is this node as it joins and as its node table entry should read.
func (s *Store) self() Member {
	m := Member{ID: s.cfg.NodeID, HTTPAddr: s.cfg.HTTPAddr, RaftAddr: s.RaftAddr(), Labels: s.cfg.Labels, NonVoter: s.cfg.NonVoter}
	if s.cfg.Certificate != nil {
		m.Cert = s.cfg.Certificate()
	}
	return m
}

// current reports whether the node table entry n says what this node would tell a join, its
// certificate aside (certRecorded).
func (s *Store) current(n Node) bool {
	me := s.self()
	return n.HTTPAddr == me.HTTPAddr && n.RaftAddr == me.RaftAddr && n.NonVoter == me.NonVoter && maps.Equal(n.Labels, me.Labels)
}

// HTTPAddr returns this node's advertised HTTP address.
func (s *Store) HTTPAddr() string { return s.cfg.HTTPAddr }

// Nodes returns the node table, sorted by id.
func (s *Store) Nodes() []Node { return s.fsm.Nodes() }

// Epoch returns the membership epoch: it grows whenever the set of up nodes changes.
func (s *Store) Epoch() uint64 { return s.fsm.Epoch() }

// Leader returns the leader's id and HTTP address as this node knows them ("" when there is
// none, e.g. during an election or when cut off from the majority).
func (s *Store) Leader() (id, httpAddr string) {
	_, lid := s.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	n, _ := s.fsm.Node(string(lid))
	return string(lid), n.HTTPAddr
}

// IsLeader reports whether this node leads and has caught up with everything committed before
// it took over (its Barrier completed).
func (s *Store) IsLeader() bool { return s.leading.Load() && s.raft.State() == raft.Leader }

// State is the Raft state: "Follower", "Candidate", "Leader" or "Shutdown".
func (s *Store) State() string { return s.raft.State().String() }

// LeaderCh delivers true when this node becomes leader (after its Barrier) and false when it
// stops. It holds only the latest value, so a slow reader sees the current state, not history.
func (s *Store) LeaderCh() <-chan bool { return s.leaderCh }

// Server is one entry of the Raft configuration.
type Server struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	Voter    bool   `json:"voter"`
}

// Servers returns the current Raft configuration.
func (s *Store) Servers() ([]Server, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, s.raftErr(err, "read configuration")
	}
	var out []Server
	for _, srv := range f.Configuration().Servers {
		out = append(out, Server{ID: string(srv.ID), RaftAddr: string(srv.Address), Voter: srv.Suffrage == raft.Voter})
	}
	return out, nil
}

// Watch signals (coalesced) after every change of the model, the node table or this node's
// leadership, until ctx is done, when the channel is closed.
func (s *Store) Watch(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.watchMu.Lock()
	s.watchers[ch] = struct{}{}
	s.watchMu.Unlock()
	go func() {
		<-ctx.Done()
		s.watchMu.Lock()
		delete(s.watchers, ch)
		s.watchMu.Unlock()
		close(ch)
	}()
	return ch
}

func (s *Store) broadcast() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for ch := range s.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// streamLayer is the Raft transport over a Network.
type streamLayer struct {
	net.Listener
	dial      func(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error)
	advertise net.Addr // nil: the listener's
	// refused hears of every dial the other side's kernel refused: nothing listens there, so the
	// node's process is gone — a surer sign than a timeout, which a frozen or cut-off node gives.
	refused func(addr string)
}

func (l *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	conn, err := l.dial(context.Background(), string(addr), timeout)
	if err != nil && l.refused != nil && errors.Is(err, syscall.ECONNREFUSED) {
		l.refused(string(addr))
	}
	return conn, err
}

func (l *streamLayer) Addr() net.Addr {
	if l.advertise != nil {
		return l.advertise
	}
	return l.Listener.Addr()
}

// openBolt opens the log store. bbolt panics on some damaged files ("invalid freelist page"), or
// faults reading a truncated one through its memory map (SIGBUS, which SetPanicOnFault turns into
// a panic of this goroutine), rather than failing; that is an error here, with what to do.
func openBolt(path string) (b *raftboltdb.BoltStore, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s is damaged (%v): restore the data directory from a backup, or move it aside and let the node join the cluster again", ErrCorrupt, path, r)
		}
	}()
	return raftboltdb.New(raftboltdb.Options{Path: path})
}
