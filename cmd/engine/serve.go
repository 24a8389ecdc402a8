package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/core"
	"github.com/placeos-go/engine/httpapi"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/state"
	"github.com/placeos-go/engine/supervisor"
)

// serve runs one node until ctx is done (SIGINT/SIGTERM), then stops everything it started,
// driver processes included.
func serve(ctx context.Context, args []string, dev bool) error {
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
	st, err := state.New(ctx, state.Options{URL: redisURL, Logger: log, NodeID: o.NodeID})
	if err != nil {
		return fmt.Errorf("redis %s: %w", redisURL, err)
	}
	cleanups = append(cleanups, func() { _ = st.Close() })

	store := model.NewMemory()
	if dev {
		f, stopSims, err := demoModel(o, log)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, stopSims)
		if err := store.Apply(ctx, f); err != nil {
			return fmt.Errorf("demo model: %w", err)
		}
	}
	if o.Model != "" {
		f, err := model.LoadFile(o.Model)
		if err != nil {
			return err
		}
		if err := store.Apply(ctx, f); err != nil {
			return fmt.Errorf("model %s: %w", o.Model, err)
		}
	}

	var sup *supervisor.Supervisor
	c, err := core.New(core.Config{
		Logger:      log,
		NodeID:      o.NodeID,
		Store:       store,
		State:       st,
		DriverDir:   o.DriverDir,
		ExecTimeout: o.ExecTimeout,
	}, func(host proto.HostServer, onStart func(context.Context, string)) (core.Supervisor, error) {
		sup, err = supervisor.New(supervisor.Config{
			Logger:        log,
			Host:          host,
			ExecTimeout:   o.ExecTimeout,
			RunDir:        filepath.Join(o.DataDir, "run"),
			OnModuleStart: onStart,
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
	c.Run(ctx)
	cleanups = append(cleanups, c.Close)

	api := httpapi.New(httpapi.Config{
		Logger:      log,
		Modules:     c,
		Node:        c,
		Addr:        o.HTTPAddr,
		ExecTimeout: o.ExecTimeout,
		// Authentication is not built yet, so the API refuses to listen beyond loopback.
		AllowRemote: false,
	})
	if err := api.Start(); err != nil {
		return err
	}
	if o.PprofAddr != "" {
		stopPprof, err := servePprof(o.PprofAddr, log)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, stopPprof)
	}
	log.Info("engine listening", "node", o.NodeID, "http", "http://"+api.Addr().String())
	if dev {
		printDemo(api.Addr().String())
	}
	<-ctx.Done()
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := api.Close(shutdownCtx); err != nil {
		log.Warn("HTTP shutdown", "error", err)
	}
	return nil
}

// defaultDriverDir is bin/drivers beside bin/engine, where `make build` puts the example drivers.
func defaultDriverDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "drivers"
	}
	return filepath.Join(filepath.Dir(exe), "drivers")
}
