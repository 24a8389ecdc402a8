package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/metrics"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/placement"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/state"
)

// Config wires a Core. Logger, NodeID, Store and State are required.
type Config struct {
	Logger hclog.Logger
	NodeID string
	Store  ModelStore
	State  State
	// DriverDir resolves relative driver `binary` paths; empty means the working directory.
	DriverDir string
	// ExecTimeout bounds every execute (default DefaultExecTimeout); a caller may ask for less.
	ExecTimeout time.Duration
	// Resync is how often the reconciler retries failed work without a model change (default 5 s).
	Resync time.Duration
	// Parallel bounds how many modules start at once (default 64). Starts in flight together
	// share their round trips: the driver's gRPC connection carries many in one write, and
	// their Redis writes go in one pipeline (package state); with 10,000 modules 64 at a time
	// cost half the CPU of 8 at a time. A start that has not answered within a pass's wait
	// (2 s) no longer counts (modop.go).
	Parallel int
	// Cluster is the membership (nil: a standalone node that owns every module and system).
	Cluster Cluster
	// Membership is the error this node answers with while it is not a member of the cluster,
	// nil while it is one (membership.go); nil: always a member.
	Membership func() error
	// Peers forwards executes to the node hosting a module (nil: everything runs here).
	Peers Peers
	// Builder compiles drivers that name a repository (nil: only prebuilt binaries run).
	Builder Builder
	// BuildHoldsReady is how long a driver build in flight holds this node's readiness (default
	// DefaultBuildHoldsReady; build.go).
	BuildHoldsReady time.Duration
	// KeepBinaries is how long a built driver binary no module uses is kept (0: forever).
	KeepBinaries time.Duration
	// SweepEvery is how often the leader deletes what Redis holds of modules and systems the
	// model no longer has (sweep.go; 0: never).
	SweepEvery time.Duration
	// StopWhenCutOff stops this node's modules while it is cut off from the leader for longer
	// than the others take to move them (cutoff.go); false keeps them running.
	StopWhenCutOff bool
	// Watcher serves drivers' status subscriptions; nil refuses them.
	Watcher Watcher
	// Metrics records execute latency and modules by state; nil records nothing.
	Metrics *metrics.Metrics
	// Secrets opens the protected settings merged into a module's start payload; nil: a module
	// that has any cannot start (its error says so).
	Secrets *model.Keyring
	// Limits bound each driver's status writes, driver-to-driver calls and subscriptions (zero
	// fields: the defaults).
	Limits Limits
}

// DefaultParallel is how many modules a node starts at once unless Config.Parallel says.
const DefaultParallel = 64

// Core reconciles the model on this node and serves the engine's runtime interfaces.
type Core struct {
	cfg Config
	log hclog.Logger
	sup Supervisor

	driverLimits sync.Map // binary → its driver's memory_limit (driver_limits.go)

	mu          sync.Mutex
	modules     map[string]*moduleState      // modules this node runs or tried to run
	left        map[string]*leftModule       // modules that left it, whose driver may still quote them (leaving.go)
	leftStopped bool                         // Close ended the checks that forget c.left's entries
	anySecrets  *model.SecretIndex           // every value of modules and left, built when nil (scrubscope.go)
	lookups     map[string]map[string]string // systems whose lookup this node wrote, as written

	builds   map[string]*buildState // driver id -> latest build
	buildGen map[string]uint64      // repository id -> pulls and recompiles so far
	bg       sync.WaitGroup         // background builds
	ops      sync.WaitGroup         // modules' operations in flight (modop.go)
	runCtx   context.Context

	fnCache functionCache // parsed metadata of modules called, and of those in module_info
	// infoWatched are the modules listed in the module_info of a logic module this node hosts
	// (module_info.go), as of the last reconcile pass.
	infoWatched atomic.Pointer[map[string]bool]
	calls       calls        // executes running here and whom they are for
	gates       statusGates  // status write rate per module
	quotas      driverQuotas // calls and subscriptions per driver
	saves       settingSaves // each module's setting saves, one at a time (settingquota.go)

	deleted        deletions // modules that left the model (forget.go); the reconcile loop's own
	swept          sweep     // the last sweep of Redis (sweep.go); the reconcile loop's own
	infoKnown      infoMemo  // what module_info last listed of each module (module_info.go); the reconcile loop's own
	view           atomic.Pointer[view]
	placer         *placement.Placer // the rings of the node sets the constraints select (placement.go)
	ready          atomic.Bool       // reconciled at least once
	cutOff         atomic.Bool       // cut off from the leader: its modules stopped (cutoff.go)
	readyEpoch     atomic.Uint64     // the membership epoch of the last completed pass
	published      atomic.Bool       // standalone: ready announced
	publishedEpoch atomic.Uint64     // leader: the epoch it announced ready for (0: none)

	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	halt   sync.Once // stopLoop

	// downKick wakes writeDowns for the modules in downPending (guarded by mu).
	downKick    chan struct{}
	downPending map[string]bool
}

// moduleState is what this node knows about one module it hosts.
type moduleState struct {
	binary  string
	config  *proto.Module
	running bool
	err     error
	since   time.Time
	// startFailed: the supervisor holds the module though its start failed (it starts it again
	// with its driver's next process), so it must be told when the module is no longer wanted.
	startFailed bool
	// notBuilt: it was not started because its driver has not built; recorded like a failed start.
	notBuilt bool
	// failedAt is when the start failures under way began: retries failing alike keep it.
	failedAt time.Time
	// refusedAt is when its driver began refusing its settings updates (zero: it took the last).
	refusedAt time.Time
	// secrets are the module's protected setting values (model.Model.Secrets), hidden in what
	// its driver says about it (scrub); secretLevel the highest of their levels, which decides
	// who may read its driver's words in an execute's error (callError).
	secrets     []string
	secretLevel model.Level
	// recorded is the start failure last written to Redis, at recordedAt (recordStartFailure).
	recorded   state.ModuleError
	recordedAt time.Time
	// clean: Redis holds no failure of it from this node, as far as this process knows (a new
	// process does not know what its previous life left there).
	clean bool
	// op is its start, update or move in flight, if any (modop.go).
	op *moduleOp
	// down: its driver process is down since it started (processdown.go).
	down processDown
}

// NewSupervisor builds the node's supervisor once the host callback service exists: the
// supervisor serves host to its driver processes and calls onStart before every module start.
type NewSupervisor func(host proto.HostServer, onStart func(ctx context.Context, moduleID string)) (Supervisor, error)

// New returns a Core; call Run to start reconciling. The supervisor and core refer to each
// other (drivers call back into core), so core builds it through newSup.
func New(cfg Config, newSup NewSupervisor) (*Core, error) {
	if cfg.ExecTimeout <= 0 {
		cfg.ExecTimeout = DefaultExecTimeout
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 5 * time.Second
	}
	if cfg.BuildHoldsReady <= 0 {
		cfg.BuildHoldsReady = DefaultBuildHoldsReady
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	cfg.Limits = cfg.Limits.withDefaults()
	c := &Core{
		cfg:      cfg,
		log:      cfg.Logger.Named("core"),
		modules:  map[string]*moduleState{},
		lookups:  map[string]map[string]string{},
		builds:   map[string]*buildState{},
		buildGen: map[string]uint64{},
		runCtx:   context.Background(),
		kick:     make(chan struct{}, 1),
		downKick: make(chan struct{}, 1),
		done:     make(chan struct{}),
		placer:   placement.NewPlacer(),
	}
	sup, err := newSup(c.Host(), c.OnModuleStart)
	if err != nil {
		return nil, err
	}
	c.sup = sup
	return c, nil
}

// Run starts the reconcile loop in the background. It returns at once; Close stops it.
func (c *Core) Run(ctx context.Context) {
	ctx, c.cancel = context.WithCancel(ctx)
	c.runCtx = ctx
	changes := c.cfg.Store.Watch(ctx)
	meta := c.watchMetadata()
	if c.cfg.Cluster != nil {
		c.bg.Add(1)
		go c.keepClusterRecord(ctx) // cluster.go
	}
	c.bg.Add(1)
	go c.writeDowns(ctx) // processdown.go
	go func() {
		defer close(c.done)
		if meta != nil { // nil from a State that does not subscribe (unit tests' fakes)
			defer meta.Cancel()
		}
		tick := time.NewTicker(c.cfg.Resync)
		defer tick.Stop()
		clean := time.NewTicker(cleanupEvery(c.cfg.KeepBinaries))
		defer clean.Stop()
		var sweepC, cutC <-chan time.Time // nil: never
		if c.cfg.SweepEvery > 0 {
			sweep := time.NewTicker(c.cfg.SweepEvery)
			defer sweep.Stop()
			sweepC = sweep.C
		}
		if c.cfg.StopWhenCutOff && c.cfg.Cluster != nil {
			cut := time.NewTicker(cutOffCheck)
			defer cut.Stop()
			cutC = cut.C
		}
		for {
			c.reconcile(ctx)
			for again := false; !again; {
				again = true
				select {
				case <-ctx.Done():
					return
				case <-changes:
				case <-c.kick:
				case <-tick.C:
				case <-clean.C:
					c.cleanupBinaries()
				case <-sweepC:
					c.sweepRedis(ctx)
				case <-cutC:
					again = c.checkCutOff(ctx) // a pass only when it changed
				}
			}
		}
	}()
}

// cleanupEvery checks for old binaries a few times per keep period, at most every 10 minutes.
func cleanupEvery(keep time.Duration) time.Duration {
	if keep <= 0 {
		return time.Hour
	}
	return min(max(keep/4, time.Second), 10*time.Minute)
}

// Close stops the reconcile loop and waits for it, and writes the status values the drivers' rate
// limit still holds. It does not stop driver processes: the supervisor owns them.
func (c *Core) Close() {
	if c.cancel == nil {
		return
	}
	c.stopLoop()
	c.gates.close(c.writeStatus)
	c.stopLeft()
}

// stopLoop stops the reconcile loop and what it began, and waits for them; once.
func (c *Core) stopLoop() {
	c.halt.Do(func() {
		c.cancel()
		<-c.done
		c.bg.Wait()
		c.ops.Wait() // canceled with the loop's context: they end as soon as their driver call does
	})
}

// StopModules is the first step of a node's graceful leave: it stops the reconcile loop, so that
// nothing starts again, and every module this node runs, so that their devices are free before the
// leave lets other nodes start them (one leaving first ran them on while the others started them:
// two connections to a display). It returns how many it stopped; Close follows as always.
func (c *Core) StopModules(ctx context.Context) int {
	if c.cancel != nil {
		c.stopLoop()
	}
	return c.stopAll(ctx)
}

// OnModuleStart clears a module's status before a new instance of it starts (docs/protocol.md §3),
// and tells the state store this node hosts it, so that what its driver sets is written back
// after Redis loses it. The supervisor calls it before every Start, including restarts after a
// crash.
func (c *Core) OnModuleStart(ctx context.Context, moduleID string) {
	c.cfg.State.Host(moduleID)
	if owner, _ := c.Owner(moduleID); owner != c.cfg.NodeID {
		// A start decided under a ring that has moved on (nodes joining in quick succession):
		// the module's new owner may already have started it and set statuses, which this clear
		// would wipe. Only the owner writes its status (as in Host.SetStatus); the next pass stops
		// this instance.
		c.log.Debug("module starting under an older placement: its status is left to its owner", "module", moduleID, "owner", owner)
		return
	}
	// Bounded as a driver's status write is: a frozen Redis must not hold the start (the supervisor
	// waits for it), and a clear it did not take is kept for the write-back like any status write.
	ctx, cancel := context.WithTimeout(ctx, statusWriteTimeout)
	defer cancel()
	if err := c.cfg.State.ClearStatus(ctx, moduleID); err != nil {
		// Redis may still hold the old statuses: they stay counted against the module's bounds.
		c.log.Warn("clearing module status failed", "module", moduleID, "error", err)
		return
	}
	c.gates.restart(moduleID)
}

func (c *Core) binaryPath(m *model.Model, d *model.Driver) (string, error) {
	if d.Binary == "" {
		return c.repositoryBinary(m, d)
	}
	if filepath.IsAbs(d.Binary) || c.cfg.DriverDir == "" {
		return filepath.Clean(d.Binary), nil
	}
	return filepath.Join(c.cfg.DriverDir, d.Binary), nil
}

// moduleConfig is the start payload of a module: its connection fields and merged settings,
// protected ones opened with k — the only place a secret leaves its sealed form for a driver —
// and, for a logic module, its system with the system's module_info from infos.
func moduleConfig(m *model.Model, mod *model.Module, k *model.Keyring, infos *moduleInfos) (*proto.Module, error) {
	d := m.Drivers[mod.DriverID]
	merged, err := m.MergedSettings(mod, k)
	if err != nil {
		return nil, fmt.Errorf("settings of module %q: %w", mod.ID, err)
	}
	settings, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("encode settings of module %q: %w", mod.ID, err)
	}
	cfg := &proto.Module{
		Id:           mod.ID,
		DriverId:     mod.DriverID,
		Name:         m.ResolvedName(mod),
		Role:         d.Role,
		Ip:           mod.IP,
		Port:         int32(mod.Port),
		Tls:          mod.TLS,
		Udp:          mod.UDP,
		Makebreak:    mod.Makebreak,
		Uri:          mod.URI,
		CustomName:   mod.CustomName,
		Notes:        mod.Notes,
		SettingsJson: settings,
	}
	if cfg.Port == 0 {
		cfg.Port = int32(d.DefaultPort)
	}
	if cfg.Uri == "" {
		cfg.Uri = d.DefaultURI
	}
	if sys := m.Systems[mod.ControlSystemID]; sys != nil && d.Role == model.RoleLogic {
		if cfg.ControlSystemJson, err = infos.controlSystemJSON(sys); err != nil {
			return nil, fmt.Errorf("encode system of module %q: %w", mod.ID, err)
		}
	}
	return cfg, nil
}

// withNotes adds the module's notes to its driver's metadata (docs/protocol.md §4). Without notes
// the answer is remembered per metadata text: every module of a driver without notes (most of
// them) gets the same slice, parsed and encoded once rather than once per module start.
func withNotes(meta []byte, notes string) ([]byte, error) {
	if notes == "" {
		return plainMeta.get(meta)
	}
	return addNotes(meta, notes)
}

// plainMeta remembers withNotes(meta, "") for the last few metadata texts.
var plainMeta = &metaMemo{}

// metaMemoMax bounds metaMemo: one entry per driver binary in use is the common case; past the
// bound the memo is emptied and starts again.
const metaMemoMax = 64

type metaMemo struct {
	mu      sync.Mutex
	entries map[string][]byte // metadata text → it without notes, as addNotes encodes it
}

// get answers addNotes(meta, "") from the memo; the slice is shared and must not be modified.
func (m *metaMemo) get(meta []byte) ([]byte, error) {
	m.mu.Lock()
	out, ok := m.entries[string(meta)]
	m.mu.Unlock()
	if ok {
		return out, nil
	}
	out, err := addNotes(meta, "")
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil || len(m.entries) >= metaMemoMax {
		m.entries = map[string][]byte{}
	}
	m.entries[string(meta)] = out
	return out, nil
}

func addNotes(meta []byte, notes string) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(meta, &obj); err != nil {
		return nil, fmt.Errorf("driver metadata is not a JSON object: %w", err)
	}
	if notes == "" {
		delete(obj, "notes")
	} else {
		n, _ := json.Marshal(notes)
		obj["notes"] = n
	}
	return json.Marshal(obj)
}

// isCanceled reports errors caused by shutting down, which are not worth an error log line.
func isCanceled(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}
