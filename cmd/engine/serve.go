package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/raftfsm"
)

// serve runs one node until ctx is done, then stops everything it started, driver processes
// included. When the signal handler asks to leave (SIGTERM, or POST /cluster/leave naming this
// node) the node first leaves the cluster gracefully.
func serve(ctx context.Context, args []string, dev bool, sig *signals) error {
	// Until reloadOnHUP listens, a SIGHUP (`systemctl reload` right after a start) would end the
	// process: Go's default for it. Ignored until then; reloadOnHUP's Notify takes it over.
	signal.Ignore(syscall.SIGHUP)
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
	}).With("node", o.NodeID) // every line of the node, its drivers' included, says which node wrote it
	for _, w := range append(o.secretWarnings, o.warnings...) {
		log.Warn(w)
	}
	rt := applyRuntime(o)
	defer rt.stop()
	o.driverEnv = rt.driverEnv()
	log.Info("runtime", "gc_percent", rt.gcText(), "memory_limit", sizeText(rt.MemoryLimit), "gomaxprocs", rt.MaxProcs,
		"driver_gomaxprocs", maxProcsText(rt.DriverMaxProcs),
		"cpus", rt.CPUs, "memory", sizeText(rt.Memory), "chosen", strings.Join(rt.Why, "; "))
	log.Info(o.driverLimitsText())
	n, err := startNode(ctx, o, log, sig.leave)
	defer n.close()
	if err != nil {
		return stoppedWhileStarting(ctx, log, err)
	}

	if dev {
		f, stopSims, err := demoModel(o, log)
		if err != nil {
			return err
		}
		n.onClose(stopSims)
		if err := applyWhenLed(ctx, n.store, f, log); err != nil {
			return stoppedWhileStarting(ctx, log, fmt.Errorf("demo model: %w", err))
		}
		if err := forgetWatches(ctx, n.store, n.state, o.DataDir, log); err != nil {
			return err
		}
	}
	if o.Model != "" {
		if err := applyModelFile(ctx, n.store, o.DataDir, o.Model, log); err != nil {
			return stoppedWhileStarting(ctx, log, err)
		}
	}

	n.core.Run(ctx)
	n.onClose(n.core.Close)
	log.Info("engine listening", "http", "http://"+n.api.Addr().String(), "raft", n.store.RaftAddr())
	if dev {
		printDemo(os.Stdout, n.api.Addr().String(), o.Auth == "keys")
	}
	if o.Watch != "" {
		w, err := newDevWatch(o, n, os.Stdout)
		if err != nil {
			return err
		}
		done := make(chan struct{})
		go func() { defer close(done); w.run(ctx) }()
		n.onClose(func() { <-done })
	}

	<-ctx.Done()
	if sig.leaving() {
		// What clients and other nodes have in flight finishes (or is answered) while the modules
		// still run; then the modules stop, so that their devices are free before the leave lets
		// the others start them.
		n.closeAPI()
		n.closeNodes()
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		log.Info("leaving the cluster: stopped this node's modules first", "stopped", n.core.StopModules(stopCtx))
		cancel()
		leaveCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := n.store.Leave(leaveCtx); errors.Is(err, raftfsm.ErrLastVoter) {
			log.Info("not leaving the cluster: this node is its last voter (the cluster stops with it)")
		} else if err != nil {
			log.Warn("leaving the cluster failed; stopping anyway", "error", err)
		} else {
			log.Info("left the cluster")
		}
		cancel()
	}
	log.Info("shutting down")
	return nil
}

// stoppedWhileStarting is err, unless a signal came while the node started (a join still being
// retried, a model file waiting for a leader): that is a stop, which exits 0 like any other, not
// a failure of the step it cut short.
func stoppedWhileStarting(ctx context.Context, log hclog.Logger, err error) error {
	if ctx.Err() == nil {
		return err
	}
	log.Info("stopped while starting", "cut_short", err)
	return nil
}

// applyWhenLed applies a model file once the cluster has a leader (a fresh bootstrap elects
// itself within a second or so).
func applyWhenLed(ctx context.Context, store *raftfsm.Store, f *model.File, log hclog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := store.Apply(ctx, f)
		if err == nil {
			log.Info("model file applied", "repositories", len(f.Repositories), "drivers", len(f.Drivers),
				"zones", len(f.Zones), "systems", len(f.Systems), "modules", len(f.Modules))
			return nil
		}
		if !errors.Is(err, errkind.Unavailable) {
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
