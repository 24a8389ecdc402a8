package builder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/proctree"
)

// Builder keeps repositories cloned and fetched and compiles drivers from them. It is safe for
// concurrent use. Close stops its background work.
type Builder struct {
	cfg Config
	log hclog.Logger

	ctx    context.Context // cancelled by Close; builds and background syncs run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}
	sem    chan struct{} // build slots
	engine string        // this process in the build pid files (proctree.EngineRecord)

	mu      sync.Mutex
	repos   map[string]*repoState
	flights map[string]*flight      // binary name -> build in progress
	builds  map[string]*BuildStatus // binary name -> last outcome
	queued  int                     // builds waiting for or holding a slot, for "compiling i/n"
	started int
	goVer   string

	stats struct{ clones, fetches, builds, failures, cacheHits atomic.Int64 }
}

// Stats counts the work done since New; a restarted node that finds everything on disk shows
// zero clones and builds.
type Stats struct {
	Clones        int64 `json:"clones"`
	Fetches       int64 `json:"fetches"`
	Builds        int64 `json:"builds"`
	BuildFailures int64 `json:"build_failures"`
	CacheHits     int64 `json:"cache_hits"`
}

// New prepares the data directory, finds the repositories and binaries already there and starts
// the background fetcher.
func New(cfg Config) (*Builder, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	b := &Builder{
		cfg:     cfg,
		log:     cfg.Logger,
		wake:    make(chan struct{}, 1),
		sem:     make(chan struct{}, cfg.MaxParallel),
		repos:   map[string]*repoState{},
		flights: map[string]*flight{},
		builds:  map[string]*BuildStatus{},
		engine:  proctree.EngineRecord(),
	}
	for _, d := range []string{b.reposDir(), b.driversDir(), b.buildsDir(), b.runDir(),
		filepath.Join(b.buildsDir(), "home"), b.tmpDir()} {
		// Private to the engine's user, like the whole data directory: clones may be private
		// source, and binaries run as this user.
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("builder: %w", err)
		}
	}
	// Before the leftovers go: a killed engine's compiler may still write into them.
	b.killLeftovers()
	b.removeLeftovers()
	b.sweepTmp()
	if err := b.discoverRepos(); err != nil {
		return nil, err
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.wg.Add(1)
	go b.loop()
	return b, nil
}

// Close stops the background fetcher and cancels running builds and git operations, then waits
// for them.
func (b *Builder) Close() error {
	// Under mu so that no build adds itself to wg after Wait has begun.
	b.mu.Lock()
	b.cancel()
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

// Stats returns the counters.
func (b *Builder) Stats() Stats {
	return Stats{
		Clones:        b.stats.clones.Load(),
		Fetches:       b.stats.fetches.Load(),
		Builds:        b.stats.builds.Load(),
		BuildFailures: b.stats.failures.Load(),
		CacheHits:     b.stats.cacheHits.Load(),
	}
}

// DriversDir is where binaries live (for a supervisor that wants to know which binaries are the
// builder's).
func (b *Builder) DriversDir() string { return filepath.Join(b.cfg.DataDir, "drivers") }

func (b *Builder) reposDir() string   { return filepath.Join(b.cfg.DataDir, "repositories") }
func (b *Builder) driversDir() string { return b.DriversDir() }
func (b *Builder) buildsDir() string  { return filepath.Join(b.cfg.DataDir, "builds") }

// removeLeftovers deletes what a crash in the middle of a clone or build left behind: partial
// clones, build exports and unfinished binaries. Their names all carry a ".tmp-" part.
func (b *Builder) removeLeftovers() {
	for _, dir := range []string{b.reposDir(), b.driversDir(), b.buildsDir(), b.tmpDir()} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp-") {
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					b.log.Warn("cannot remove leftover", "path", filepath.Join(dir, e.Name()), "error", err)
				}
			}
		}
	}
}

func (b *Builder) closed() bool { return b.ctx.Err() != nil }

// loop clones tracked repositories that are missing, retries failures with backoff and fetches
// every FetchInterval. One repository at a time: a node syncing many repositories should not
// saturate its link or the git server.
func (b *Builder) loop() {
	defer b.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := b.syncDue()
		if b.closed() {
			return
		}
		timer.Reset(max(time.Until(next), 10*time.Millisecond))
		select {
		case <-b.ctx.Done():
			return
		case <-b.wake:
		case <-timer.C:
		}
	}
}

// syncDue syncs every due repository and returns when the next one is due.
func (b *Builder) syncDue() time.Time {
	now := time.Now()
	next := now.Add(time.Hour)
	var due []*repoState
	b.mu.Lock()
	for _, st := range b.repos {
		if !st.tracked || st.invalid != nil {
			continue
		}
		at := st.dueAt(b.cfg.FetchInterval)
		if at.IsZero() {
			continue
		}
		if !at.After(now) {
			due = append(due, st)
		} else if at.Before(next) {
			next = at
		}
	}
	b.mu.Unlock()
	for _, st := range due {
		if b.closed() {
			break
		}
		_, _ = b.sync(b.ctx, st)
		b.mu.Lock()
		if at := st.dueAt(b.cfg.FetchInterval); !at.IsZero() && at.Before(next) {
			next = at
		}
		b.mu.Unlock()
	}
	return next
}

func (b *Builder) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}
