package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/core"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpapi"
	"github.com/placeos-go/engine/metrics"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/raftfsm"
	"github.com/placeos-go/engine/state"
	"github.com/placeos-go/engine/subscriptions"
	"github.com/placeos-go/engine/supervisor"
)

// serve runs one node until ctx is done, then stops everything it started, driver processes
// included. When leave is true at that point (SIGTERM, or POST /cluster/leave) the node first
// leaves the cluster gracefully.
func serve(ctx context.Context, args []string, dev bool, sig *signals) error {
	name := "serve"
	if dev {
		name = "dev"
	}
	o, err := parseOptions(name, args, dev)
	if err != nil {
		return err
	}
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "engine",
		Level:      hclog.LevelFromString(o.LogLevel),
		JSONFormat: o.LogFormat == "json",
		Output:     os.Stderr,
	})
	if o.DriverDir == "" {
		o.DriverDir = defaultDriverDir()
	}
	if o.AdvertiseHTTP == "" {
		o.AdvertiseHTTP = o.HTTPAddr
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	redisURL := o.Redis
	if redisURL == "embedded" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("embedded redis: %w", err)
		}
		cleanups = append(cleanups, mr.Close)
		redisURL = "redis://" + mr.Addr() + "/0"
		log.Warn("using embedded Redis: state is lost on exit (development only)", "addr", mr.Addr())
	}
	// One registry for the node, served at GET /metrics by the HTTP API.
	met := metrics.New()
	st, err := state.New(ctx, state.Options{URL: redisURL, Logger: log, NodeID: o.NodeID, Metrics: met})
	if err != nil {
		return fmt.Errorf("redis %s: %w", redisURL, err)
	}
	cleanups = append(cleanups, func() { _ = st.Close() })

	peers := httpapi.NewPeerClient(o.ClusterSecret)
	store, err := raftfsm.Open(raftfsm.Config{
		NodeID:        o.NodeID,
		DataDir:       o.DataDir,
		RaftAddr:      o.RaftAddr,
		AdvertiseRaft: o.AdvertiseRaft,
		HTTPAddr:      o.AdvertiseHTTP,
		TimeoutScale:  o.RaftScale,
		Forwarder:     peers,
		Logger:        log,
		Metrics:       met,
	})
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { _ = store.Close() })
	if o.Bootstrap {
		if err := store.Bootstrap(ctx); err != nil {
			return err
		}
	}

	auth, err := authenticator(o, log)
	if err != nil {
		return err
	}
	if o.SDKDir == "" {
		o.SDKDir = findSDKDir()
	}
	creds, err := loadCredentials(o.GitCreds)
	if err != nil {
		return err
	}
	bld, err := builder.New(builder.Config{DataDir: o.DataDir, SDKDir: o.SDKDir, Logger: log, Credentials: creds, Metrics: met})
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { _ = bld.Close() })

	var sup *supervisor.Supervisor
	var api *httpapi.Server // set below; drivers only call back once modules run
	c, err := core.New(core.Config{
		Logger:       log,
		NodeID:       o.NodeID,
		Store:        store,
		Cluster:      store,
		Peers:        peers,
		State:        st,
		DriverDir:    o.DriverDir,
		ExecTimeout:  o.ExecTimeout,
		Builder:      bld,
		KeepBinaries: o.KeepBinaries,
		Authorize: func(ctx context.Context, userID, moduleID, fn string) error {
			return api.AuthorizeDriverCall(ctx, userID, moduleID, fn)
		},
		Metrics: met,
	}, func(host proto.HostServer, onStart func(context.Context, string)) (core.Supervisor, error) {
		sup, err = supervisor.New(supervisor.Config{
			Logger:        log,
			Host:          host,
			ExecTimeout:   o.ExecTimeout,
			RunDir:        filepath.Join(o.DataDir, "run"),
			OnModuleStart: onStart,
			SecureConfig:  bld.SecureConfig,
			Metrics:       met,
			// Drivers log at the engine's level; their hclog JSON lines are lifted into the
			// engine's log (JSON under --log-format json).
			Env: func(string) []string { return []string{"ENGINE_DRIVER_LOG_LEVEL=" + o.LogLevel} },
		})
		return sup, err
	})
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sup.Close(shutdownCtx); err != nil {
			log.Error("stopping driver processes", "error", err)
		}
	})

	watcher := subscriptions.New(st, log)
	cleanups = append(cleanups, func() { _ = watcher.Close() })
	glue := &clusterGlue{store: store, core: c, leave: sig.leave}
	api = httpapi.New(httpapi.Config{
		Logger:        log,
		Modules:       c,
		Node:          c,
		Cluster:       glue,
		Manager:       glue,
		ClusterSecret: o.ClusterSecret,
		Addr:          o.HTTPAddr,
		ExecTimeout:   o.ExecTimeout,
		Auth:          auth,
		Watcher:       watcher,
		Debugger:      &debugger{core: c, sup: sup, self: o.NodeID, secret: o.ClusterSecret},
		Metrics:       met,
	})
	if err := api.Start(); err != nil {
		return err
	}
	cleanups = append(cleanups, func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := api.Close(shutdownCtx); err != nil {
			log.Warn("HTTP shutdown", "error", err)
		}
	})
	if o.PprofAddr != "" {
		stopPprof, err := servePprof(o.PprofAddr, log)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, stopPprof)
	}
	if o.Join != "" {
		if auth != nil && o.ClusterSecret == "" {
			return fmt.Errorf("a cluster with --auth keys needs --cluster-secret (node-to-node calls carry it)")
		}
		if err := join(ctx, peers, o, store.RaftAddr(), log); err != nil {
			return err
		}
	}

	if dev {
		f, stopSims, err := demoModel(o, log)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, stopSims)
		if err := applyWhenLed(ctx, store, f, log); err != nil {
			return fmt.Errorf("demo model: %w", err)
		}
	}
	if o.Model != "" {
		f, err := model.LoadFile(o.Model)
		if err != nil {
			return err
		}
		if err := applyWhenLed(ctx, store, f, log); err != nil {
			return fmt.Errorf("model %s: %w", o.Model, err)
		}
	}

	c.Run(ctx)
	cleanups = append(cleanups, c.Close)
	log.Info("engine listening", "node", o.NodeID, "http", "http://"+api.Addr().String(), "raft", store.RaftAddr())
	if dev {
		printDemo(api.Addr().String())
	}

	<-ctx.Done()
	if sig.leaving() {
		leaveCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := store.Leave(leaveCtx); err != nil {
			log.Warn("leaving the cluster failed; stopping anyway", "error", err)
		} else {
			log.Info("left the cluster")
		}
		cancel()
	}
	log.Info("shutting down")
	return nil
}

// join asks a member to add this node, retrying while the cluster is electing or unreachable.
func join(ctx context.Context, peers *httpapi.PeerClient, o *options, raftAddr string, log hclog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	advRaft := o.AdvertiseRaft
	if advRaft == "" {
		advRaft = raftAddr
	}
	for wait := 100 * time.Millisecond; ; wait = min(wait*2, 2*time.Second) {
		err := peers.Join(ctx, o.Join, o.NodeID, advRaft, o.AdvertiseHTTP)
		if err == nil {
			log.Info("joined the cluster", "via", o.Join)
			return nil
		}
		if errors.Is(err, errkind.BadRequest) || errors.Is(err, errkind.Unauthorized) {
			return fmt.Errorf("join via %s: %w", o.Join, err)
		}
		log.Warn("join failed; retrying", "via", o.Join, "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("join via %s: %w", o.Join, err)
		case <-time.After(wait):
		}
	}
}

// applyWhenLed applies a model file once the cluster has a leader (a fresh bootstrap elects
// itself within a second or so).
func applyWhenLed(ctx context.Context, store *raftfsm.Store, f *model.File, log hclog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := store.Apply(ctx, f)
		if err == nil || !errors.Is(err, errkind.Unavailable) {
			return err
		}
		log.Debug("waiting for a leader to apply the model", "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// defaultDriverDir is bin/drivers beside bin/engine, where `make build` puts the example drivers.
func defaultDriverDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "drivers"
	}
	return filepath.Join(filepath.Dir(exe), "drivers")
}
