package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/console"
	"github.com/placeos-go/engine/core"
	"github.com/placeos-go/engine/httpapi"
	"github.com/placeos-go/engine/metrics"
	"github.com/placeos-go/engine/peer"
	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/raftfsm"
	"github.com/placeos-go/engine/state"
	"github.com/placeos-go/engine/subscriptions"
	"github.com/placeos-go/engine/supervisor"
)

// node is one running `engine serve`: every component, wired, and how to stop them.
type node struct {
	log    hclog.Logger
	tls    *clustertls.Material // nil: the cluster port runs without TLS
	port   *peer.Port
	store  *raftfsm.Store
	state  *state.Store
	core   *core.Core
	bld    *builder.Builder
	api    *httpapi.Server
	peers  *peer.Client
	closer []func() // run in reverse order by close

	apiClosed   sync.Once // closeAPI
	nodesClosed sync.Once // closeNodes
	nodes       *peer.Server
}

// onClose registers fn to run when the node stops, after everything started later.
func (n *node) onClose(fn func()) { n.closer = append(n.closer, fn) }

// close stops everything the node started, driver processes included, newest first.
func (n *node) close() {
	for i := len(n.closer) - 1; i >= 0; i-- {
		n.closer[i]()
	}
	n.closer = nil
}

// startNode builds and starts a node: Redis, the Raft store, the supervisor and core, the HTTP
// API (client, management and node-to-node routes). It does not reconcile yet (serve runs the
// core once the models are applied). On error everything started so far is stopped again.
func startNode(ctx context.Context, o *options, log hclog.Logger, leave func()) (n *node, err error) {
	n = &node{log: log}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	authn, err := authenticator(o)
	if err != nil {
		return n, err
	}
	creds, err := loadCredentials(o.GitCreds)
	if err != nil {
		return n, err
	}
	secretsKey, err := loadKeyring(o.SecretsKeyFile)
	if err != nil {
		return n, err
	}
	if secretsKey == nil {
		log.Info("no --secrets-key-file: writes carrying protected settings are refused")
	} else {
		log.Info("protected settings are sealed with the secrets key", "key_id", secretsKey.ID())
	}
	if n.tls, err = clusterTLS(o); err != nil {
		return n, err
	}
	var https *clustertls.KeyPair
	if o.HTTPTLSCert != "" {
		if https, err = clustertls.LoadKeyPair(o.HTTPTLSCert, o.HTTPTLSKey); err != nil {
			return n, err
		}
	}
	// SIGHUP reads the certificates and the API keys again: they can be rotated, and keys
	// revoked, without a restart (hup.go).
	reload := []reloadable{apiKeys(o, authn)}
	if n.tls != nil {
		reload = append(reload, certificates(n.tls))
	}
	if https != nil {
		reload = append(reload, certificates(https))
	}
	n.onClose(reloadOnHUP(log, reload...))
	// The cluster port carries Raft and the node-to-node calls; nothing reaches either without
	// proving a node opened the connection.
	proof := peer.Proof{TLS: n.tls, Secret: o.ClusterSecret, Open: o.Auth == "none"}
	// Whether the --join addresses take this node, before anything is created (join.go).
	var probe joinProbe
	if len(o.joinAddrs) > 0 {
		if probe, err = probeJoin(ctx, proof, o.joinAddrs, log, hasRaftDir(o.DataDir)); err != nil {
			return n, err
		}
		// A node about to bootstrap, all of whose --join addresses are silent, asks them a few
		// more times first: one may be restarting at this very moment.
		if o.Bootstrap && !probe.anyAnswer() && !hasRaftDir(o.DataDir) {
			if probe, err = waitForMember(ctx, proof, o.joinAddrs, log); err != nil {
				return n, err
			}
		}
	}
	met := metrics.New() // one registry for the node, served at GET /metrics
	if n.state, err = n.openState(ctx, o, met); err != nil {
		return n, err
	}
	// Everything a flag names was read without error and Redis answers: only now is anything
	// created, and all of it private to the engine's user.
	privateUmask()
	if err := privateDataDir(o.DataDir, log); err != nil {
		return n, err
	}

	if n.port, err = peer.Listen(o.RaftAddr, proof, log); err != nil {
		return n, fmt.Errorf("cluster port %s: %w", o.RaftAddr, err)
	}
	n.onClose(func() { _ = n.port.Close() })
	logClusterPort(log, proof, n.port.Addr().String())
	n.peers = peer.NewClient(proof)
	n.onClose(n.peers.Close) // last: the store forwards through it until it closes
	n.store, err = raftfsm.Open(raftfsm.Config{
		NodeID: o.NodeID, DataDir: o.DataDir, Network: n.port, AdvertiseRaft: o.AdvertiseRaft,
		HTTPAddr: o.AdvertiseHTTP, TimeoutScale: o.RaftScale, Forwarder: n.peers, Logger: log, Metrics: met,
		Secrets: secretsKey, Labels: o.Labels, NonVoter: !o.Voter, Certificate: certificateOf(proof),
	})
	if err != nil {
		return n, err
	}
	n.onClose(func() { _ = n.store.Close() })
	n.port.Admit(n.store, n.peers) // over TLS, Raft and exec connections only from members (peer doc)
	joining := len(o.joinAddrs) > 0
	if o.Bootstrap {
		bootstrap := true
		if joining {
			if bootstrap, err = n.bootstrapInsteadOfJoin(o, probe); err != nil {
				return n, err
			}
		}
		if bootstrap {
			if err := n.store.Bootstrap(ctx); err != nil {
				return n, err
			}
			joining = false // nobody to join: this node is the cluster
		}
	}
	// A node that is not a member — removed, or restarted without --join after it left, or with no
	// cluster at all — is not told: it finds out (peer.RemovalWatch), says so at once and answers
	// so (core/membership.go). It stops looking when the node is asked to stop, before a SIGTERM's
	// own leave, which is no removal.
	removal := peer.NewRemovalWatch(peer.RemovalConfig{Logger: log, Roster: n.store, Asker: n.peers, Joins: joining,
		Leader:    func() string { id, _ := n.store.Leader(); return id },
		Contacted: func() bool { return n.store.HeardFromLeaderSince(time.Time{}) }})
	rctx, stopRemoval := context.WithCancel(ctx)
	removalDone := make(chan struct{})
	go func() { defer close(removalDone); removal.Run(rctx) }()
	n.onClose(func() { stopRemoval(); <-removalDone })

	bld, err := builder.New(builder.Config{DataDir: o.DataDir, SDKDir: o.SDKDir, Logger: log, Credentials: creds, Metrics: met})
	if err != nil {
		return n, err
	}
	n.onClose(func() { _ = bld.Close() })
	n.bld = bld
	watcher := subscriptions.New(n.state, log)
	n.onClose(func() { _ = watcher.Close() })

	n.core, err = core.New(core.Config{
		Logger: log, NodeID: o.NodeID, Store: n.store, Cluster: n.store, Peers: n.peers, State: n.state,
		Watcher: watcher, Builder: bld, DriverDir: o.DriverDir, ExecTimeout: o.ExecTimeout,
		KeepBinaries: o.KeepBinaries, SweepEvery: o.RedisSweep, StopWhenCutOff: o.StopWhenCutOff, Metrics: met, Secrets: secretsKey,
		Membership: removal.NotMember,
		Limits:     o.driverLimits(),
	}, n.supervisors(o, bld, met))
	if err != nil {
		return n, err
	}

	n.nodes = peer.NewServer(peer.ServerConfig{Logger: log, Local: n.core, Members: n.store, Leave: leave})
	n.nodes.Serve(n.port)
	n.onClose(n.closeNodes)
	if err := n.startAPI(o, authn, watcher, met, https); err != nil {
		return n, err
	}
	if o.PprofAddr != "" {
		stopPprof, err := servePprof(o.PprofAddr, log)
		if err != nil {
			return n, err
		}
		n.onClose(stopPprof)
	}
	if joining {
		if err := n.joinCluster(ctx, o); err != nil {
			return n, err
		}
	}
	return n, nil
}

// startAPI starts the client, management and node API, which the node closes when it stops.
func (n *node) startAPI(o *options, authn *auth.Authenticator, watcher *subscriptions.Manager, met *metrics.Metrics, https *clustertls.KeyPair) error {
	log := n.log
	ui, err := console.New()
	if err != nil {
		return err
	}
	n.api = httpapi.New(httpapi.Config{
		Logger: log, Engine: n.core, Node: n.core, Auth: authn, Models: n.store, Watcher: watcher,
		Addr: o.HTTPAddr, TLS: httpsConfig(https), Metrics: met, Authority: authority(o),
		ReadTimeout: o.HTTPReadTimeout, WriteTimeout: o.HTTPWriteTimeout, IdleTimeout: o.HTTPIdleTimeout,
		MaxConns: o.HTTPMaxConns, MaxConnsPerIP: o.HTTPMaxConnsPerIP,
		WSMaxBinds: o.WSMaxBinds, WSMaxSessionsPerUser: o.WSMaxSessionsPerUser, WSMaxSessions: o.WSMaxSessions,
		AllowedOrigins: o.AllowedOrigins, Console: ui,
	})
	// A reload of the API keys ends the WebSocket sessions their new version no longer allows.
	authn.OnAPIKeysChange(n.api.EndRevokedSessions)
	if err := n.api.Start(); err != nil {
		return err
	}
	n.onClose(n.closeAPI)
	return nil
}

// closeNodes stops the node-to-node routes and executes other nodes forward here, letting those
// in flight finish as closeAPI does. Once, as closeAPI.
func (n *node) closeNodes() {
	n.nodesClosed.Do(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.nodes.Close(stopCtx)
	})
}

// closeAPI stops the client API: it accepts nothing more, and what is in flight gets about 4 s
// to finish before it is answered 503 (httpapi.Close). Once: a leaving node closes it before it
// stops its modules, and its close comes back to it.
func (n *node) closeAPI() {
	n.apiClosed.Do(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.api.Close(stopCtx); err != nil {
			n.log.Warn("HTTP shutdown", "error", err)
		}
	})
}

// logClusterPort says how the cluster port proves who connects: a warning where anyone who
// reaches it, or reads its traffic, could pass for a node.
func logClusterPort(log hclog.Logger, proof peer.Proof, addr string) {
	switch {
	case proof.TLS != nil:
	case proof.Secret != "":
		log.Warn("the cluster port runs WITHOUT TLS: the cluster secret keeps out whoever cannot read its traffic, no one else", "addr", addr)
	case proof.Open:
		log.Warn("the cluster port runs WITHOUT TLS or cluster secret: any process that reaches it is taken for a node", "addr", addr)
	default:
		log.Info("the cluster port takes no connection: this node has neither TLS nor a cluster secret, so it runs alone", "addr", addr)
	}
}

// joinCluster asks the --join members to add this node (join.go). A node its own Raft state
// already lists is not held up by it.
func (n *node) joinCluster(ctx context.Context, o *options) error {
	log := n.log
	if n.inOwnConfiguration(o.NodeID) {
		// A member already (its Raft state lists it): the join only refreshes its entry, and
		// the node serves without it. Waiting would let a restart while the --join nodes are
		// down (node-1 of make cluster, say) keep this node — and with it the majority —
		// from serving, and then exit.
		jctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := n.join(jctx, o); err != nil && jctx.Err() == nil {
				log.Warn("a member's join to refresh its entry failed; it runs on as a member", "error", err)
			}
		}()
		n.onClose(func() { cancel(); <-done })
		return nil
	}
	return n.join(ctx, o)
}

// supervisors is how core.New makes the node's supervisor of driver processes, which the node
// stops when it closes.
func (n *node) supervisors(o *options, bld *builder.Builder, met *metrics.Metrics) func(proto.HostServer, func(context.Context, string)) (core.Supervisor, error) {
	log := n.log
	return func(host proto.HostServer, onStart func(context.Context, string)) (core.Supervisor, error) {
		sup, err := supervisor.New(supervisor.Config{
			Logger: log, Host: host, OnModuleStart: onStart, SecureConfig: bld.SecureConfig, Metrics: met,
			RunDir: filepath.Join(o.DataDir, "run"),
			// A process up this long resets its restarts (backoff, the modules' restart note).
			StableAfter: o.DriverStableAfter,
			// A crash costs the modules their Starts, not a process start (supervisor/spare.go).
			Spare: o.DriverSpare,
			// Drivers log at the engine's level; their hclog JSON lines are lifted into the
			// engine's log (JSON under --log-format json).
			Env: func(string) []string {
				return append([]string{"ENGINE_DRIVER_LOG_LEVEL=" + o.LogLevel}, o.driverEnv...)
			},
			Cgroups: true, // where systemd delegates the engine's cgroup (deploy/README.md "Driver limits")
			// A frozen engine cannot stop its drivers: they fence themselves, gone before the
			// others take their modules over (docs/protocol.md §1, "Fencing").
			FenceAfter: fenceAfter(o.StopWhenCutOff, n.store.DownAfter()),
			// A fenced driver waits for the leader's word, which stops what moved away.
			InContact: n.store.HeardFromLeaderSince,
			// Called at launches, after core.New has returned.
			MemoryLimit: func(binary string) int64 {
				limit, ok := n.core.DriverMemoryLimit(binary)
				return driverMemoryLimit(o.DriverMemoryLimit.v, limit, ok)
			},
			Scrub: func(moduleID, text string) string { return n.core.Scrub(moduleID, text) },
			OnMetadata: func(ctx context.Context, binary string, mods []string, meta []byte) {
				n.core.OnDriverMetadata(ctx, binary, mods, meta)
			},
			// A killed driver cannot say its modules are down: the core records it for them.
			OnProcessState: func(binary string, mods []string, ps supervisor.ProcessState) {
				n.core.OnProcessState(binary, mods, ps)
			},
		})
		if err == nil {
			n.onClose(func() {
				stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := sup.Close(stopCtx); err != nil {
					log.Error("stopping driver processes", "error", err)
				}
			})
		}
		return sup, err
	}
}

// inOwnConfiguration reports whether this node's Raft state lists it as a member.
func (n *node) inOwnConfiguration(id string) bool {
	servers, err := n.store.Servers()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(servers, func(s raftfsm.Server) bool { return s.ID == id })
}

// bootstrapInsteadOfJoin decides for a node given both --bootstrap and --join (join.go). A node
// with Raft state is a member already: it joins (Bootstrap would do nothing). A node without
// state joins when a --join address answered, and bootstraps a new cluster only when none did.
func (n *node) bootstrapInsteadOfJoin(o *options, probe joinProbe) (bool, error) {
	servers, err := n.store.Servers()
	if err != nil {
		return false, err
	}
	if len(servers) > 0 {
		return false, nil
	}
	if probe.anyAnswer() {
		n.log.Info("no Raft state, but a --join address answers: joining its cluster rather than bootstrapping a new one",
			"members", strings.Join(probe.members, ","))
		return false, nil
	}
	var why []string
	for _, addr := range o.joinAddrs {
		if err := probe.none[addr]; err != nil {
			why = append(why, addr+": "+err.Error())
		}
	}
	// A node of a cluster that lost its disk, started while the others are down, finds no one
	// to join either: bootstrapping would start a second cluster, which the first never agrees
	// with once its nodes return. Redis remembers the first (state.ClusterKey).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	rec, found, err := n.state.Cluster(ctx)
	cancel()
	if err != nil {
		return false, fmt.Errorf("no Raft state and no --join address answers; checking Redis for an existing cluster before bootstrapping one: %w", err)
	}
	if found && !slices.Equal(rec.Members, []string{o.NodeID}) {
		return false, fmt.Errorf("no Raft state and no --join address answers, but Redis records a cluster of %s (leader %s at %s): "+
			"start one of its nodes first and this one joins it; to start a new cluster on purpose, delete the Redis key %s",
			strings.Join(rec.Members, ", "), rec.Leader, rec.At.Format(time.RFC3339), state.ClusterKey)
	}
	n.log.Warn("no Raft state and none of the --join addresses answers: bootstrapping a new cluster",
		"join", strings.Join(o.joinAddrs, ","), "unanswered", strings.Join(why, "; "))
	return true, nil
}

// hasRaftDir reports whether the data directory holds a raft folder (state, or at least an
// earlier start's attempt at it).
func hasRaftDir(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "raft"))
	return err == nil
}

// openState connects to --redis (an in-process server for "embedded") and returns the node's
// store, which the node closes when it stops.
func (n *node) openState(ctx context.Context, o *options, met *metrics.Metrics) (*state.Store, error) {
	log := n.log
	redisURL, err := n.redis(o.Redis)
	if err != nil {
		return nil, err
	}
	state.LogRedisClient(log)
	if state.SentinelURL(redisURL) {
		log.Info("Redis through Sentinel: following the primary the sentinels name", "url", state.RedactURL(redisURL))
	}
	st, err := state.New(ctx, state.Options{URL: redisURL, Logger: log, NodeID: o.NodeID, Metrics: met})
	if errors.Is(err, syscall.ECONNREFUSED) {
		// Nothing listens there: the operator forgot to start Redis or mistyped its address.
		return nil, fmt.Errorf("redis %s: %w (nothing listens there: start redis-server, or name another Redis with --redis or ENGINE_REDIS)", state.RedactURL(redisURL), err)
	}
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", state.RedactURL(redisURL), err)
	}
	n.onClose(func() { _ = st.Close() })
	return st, nil
}

// redis returns the Redis URL to use, starting the embedded server for "embedded".
func (n *node) redis(url string) (string, error) {
	if url != "embedded" {
		return url, nil
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return "", fmt.Errorf("embedded redis: %w", err)
	}
	n.onClose(mr.Close)
	n.log.Warn("using embedded Redis: state is lost on exit (development only)", "addr", mr.Addr())
	return "redis://" + mr.Addr() + "/0", nil
}

// defaultDriverDir is bin/drivers beside bin/engine, where `make build` puts the example drivers.
func defaultDriverDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "drivers"
	}
	return filepath.Join(filepath.Dir(exe), "drivers")
}

// authority is what GET /auth/authority names: the --public-url, else this node's advertised HTTP
// address — configuration, never the Host a request claims. A port 0 (any free port) is left to
// the server, which names the address it got.
func authority(o *options) httpapi.Authority {
	a := httpapi.Authority{PublicURL: o.PublicURL}
	if o.PublicURL == "" && !strings.HasSuffix(o.AdvertiseHTTP, ":0") {
		a.Domain = o.AdvertiseHTTP
	}
	return a
}

// certificateOf is the fingerprint of the node's cluster certificate as it is now (raftfsm
// records it, and revokes it when the node is removed); nil without TLS, where no node has an
// identity of its own.
func certificateOf(proof peer.Proof) func() string {
	if proof.TLS == nil {
		return nil
	}
	return proof.TLS.Fingerprint
}

// fenceAfter is how long a driver process may hear nothing from this engine before it stops its
// modules and exits: with --stop-when-cut-off, short enough that it is gone, its modules stopped
// within plugin.FenceStopTime, by the time the leader marks this node down (downAfter) and other
// nodes start them. 0 (no fence) without it.
func fenceAfter(stopWhenCutOff bool, downAfter time.Duration) time.Duration {
	if !stopWhenCutOff {
		return 0
	}
	return downAfter - plugin.FenceStopTime
}
