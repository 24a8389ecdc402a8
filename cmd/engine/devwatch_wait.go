package main

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/core"
)

// watchedCore is what the watch reads of the node's core: its node status (which modules run on
// which binary, and why a start failed) and which driver processes host which modules.
type watchedCore interface {
	NodeStatus(ctx context.Context) (any, error)
	Loaded() map[string][]string
}

// serveWithin bounds the wait for a new build to serve when the engine reports neither that it
// runs nor why its start failed: a driver process starts in well under a second.
const serveWithin = 30 * time.Second

// outcome is how a new build's wait ended.
type outcome struct {
	served  bool
	loadErr string  // the engine's error starting the module on the new build
	saved   *change // a save that came during the wait: build it now
}

// await waits until the module runs on binary, its start on binary fails, a save comes in on
// saves, or serveWithin passes (the zero outcome).
func (w *devWatch) await(ctx context.Context, binary string, saves <-chan change) outcome {
	ctx, cancel := context.WithTimeout(ctx, serveWithin)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ms, _ := w.moduleStatus(ctx)
		if ms.Running && ms.Driver == binary {
			return outcome{served: true}
		}
		if msg, ok := startError(ms.Error, binary); ok {
			// The supervisor's "module X did not load: " repeats what the watch's line says.
			return outcome{loadErr: strings.TrimPrefix(msg, "module "+w.mod.ID+" did not load: ")}
		}
		select {
		case <-ctx.Done():
			return outcome{}
		case c := <-saves:
			return outcome{saved: &c}
		case <-tick.C:
		}
	}
}

// startError is the driver's own words from a module error that is about binary. The supervisor
// names the binary's file in its errors ("start mod-x (driver projector_dev-a1): bad settings:
// ..."; each build has a file name of its own), which is how an error of an older build, still in
// the status until the new start ends, is told apart.
func startError(err, binary string) (string, bool) {
	tag := "(driver " + filepath.Base(binary)
	i := strings.Index(err, tag)
	if err == "" || i < 0 || !strings.ContainsAny(err[i+len(tag):][:min(1, len(err)-i-len(tag))], "),") {
		return "", false
	}
	if _, msg, ok := strings.Cut(err[i+len(tag):], "): "); ok {
		return msg, true
	}
	return err, true
}

// moduleStatus is the watched module's entry in core's node status.
func (w *devWatch) moduleStatus(ctx context.Context) (core.ModuleStatus, bool) {
	// The developer watching it reads its failure whatever its name (a "_" module's too).
	st, _ := w.core.NodeStatus(auth.WithCaller(ctx, auth.Caller{Clearance: auth.ClearanceInternal}))
	m, _ := st.(map[string]any)
	mods, _ := m["modules"].([]core.ModuleStatus)
	for _, ms := range mods {
		if ms.ID == w.mod.ID {
			return ms, true
		}
	}
	return core.ModuleStatus{}, false
}

// keeps says what serves the module while the latest build does not: an older build that runs
// it, or nothing.
func (w *devWatch) keeps(ctx context.Context, name string) string {
	if ms, _ := w.moduleStatus(ctx); ms.Running && ms.Driver != "" {
		return name + " keeps running build " + buildID(ms.Driver)
	}
	return "nothing serves " + name + " yet"
}
