package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/placeos-go/engine/internal/proctree"

	pb "github.com/placeos-go/engine/plugin/proto"
)

// Supervisor runs this node's driver processes. The driver key is the binary path.
type Supervisor struct {
	cfg  Config
	log  hclog.Logger
	host *hostServer
	wg   sync.WaitGroup          // driver goroutines
	cg   atomic.Pointer[cgroups] // nil: RLIMIT_DATA, no groups
	// engine is this process in the pid files (proctree.EngineRecord).
	engine string

	mu      sync.Mutex
	closed  bool
	gen     uint64 // process launches so far
	drivers map[string]*driver
	modules map[string]*module
	reloads map[string]chan struct{} // binary → closed when its reload in flight ends

	dmu   sync.RWMutex
	debug map[string]map[*listenerKey]func(level, msg string)
}

// New returns a supervisor. With a RunDir it first kills driver processes left there by an
// engine that was killed.
func New(cfg Config) (*Supervisor, error) {
	cfg.setDefaults()
	s := &Supervisor{
		cfg:     cfg,
		log:     cfg.Logger.Named("supervisor"),
		drivers: map[string]*driver{},
		modules: map[string]*module{},
		reloads: map[string]chan struct{}{},
		debug:   map[string]map[*listenerKey]func(string, string){},
		engine:  proctree.EngineRecord(),
	}
	var inner pb.HostServer = pb.UnimplementedHostServer{}
	if cfg.Host != nil {
		inner = cfg.Host
	}
	s.host = &hostServer{HostServer: inner, s: s}
	if cfg.Cgroups {
		self, _ := os.ReadFile("/proc/self/cgroup")
		if cg, why := setupCgroups(cgroupRoot, self); cg != nil {
			s.cg.Store(cg)
			s.log.Info("driver processes run in cgroups of their own", "cgroup", cg.dir)
		} else {
			s.log.Info("driver processes get RLIMIT_DATA as their memory limit, no cgroup", "reason", why)
		}
	}
	if cfg.RunDir != "" {
		if err := s.killOrphans(); err != nil {
			return nil, fmt.Errorf("supervisor: orphan cleanup in %s: %w", cfg.RunDir, err)
		}
	}
	return s, nil
}

// driverLocked returns the driver of binary, creating it (and launching its process) if needed.
// Caller holds s.mu.
func (s *Supervisor) driverLocked(binary string) *driver {
	if d := s.drivers[binary]; d != nil {
		return d
	}
	return s.newDriverLocked(binary)
}

// newDriverLocked makes binary's driver, launching its process, in the place of the one it may
// have had (a reload moves that one's modules over). Caller holds s.mu.
func (s *Supervisor) newDriverLocked(binary string) *driver {
	log := s.log.With("driver", binary)
	d := &driver{
		s:      s,
		binary: binary,
		log:    log,
		// Not named after the binary: go-plugin names the lines it lifts from the driver's stderr
		// so itself, and a second name made them read engine.<binary>.<binary>.
		pluginLog: s.cfg.Logger.With("driver", binary),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		modules:   map[string]*module{},
		changed:   make(chan struct{}),
	}
	d.setState(StateRestarting)
	s.drivers[binary] = d
	s.wg.Add(1)
	go d.run()
	return d
}

// Start runs module m in a process of binary, launching the process if needed. Starting a
// module that already runs with the same configuration does nothing; with another configuration
// it is an Update; on another binary it is stopped there first. The module stays wanted even
// when Start fails with ErrRestarting: it is started as soon as the process is back.
func (s *Supervisor) Start(ctx context.Context, binary string, m *pb.Module) error {
	if m.GetId() == "" {
		return fmt.Errorf("%w: no module id", ErrInvalidModule)
	}
	m = proto.Clone(m).(*pb.Module)
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		mod := s.modules[m.Id]
		if mod != nil && mod.d.binary != binary {
			s.mu.Unlock()
			if err := s.Stop(ctx, m.Id); err != nil && !errors.Is(err, ErrModuleNotRunning) {
				return fmt.Errorf("move %s to %s: %w", m.Id, binary, err)
			}
			continue
		}
		if mod == nil {
			d := s.driverLocked(binary)
			mod = &module{id: m.Id, d: d}
			s.modules[m.Id] = mod
			d.modules[m.Id] = mod
		}
		// mod.d, not the binary's driver: while a reload moves the modules to a new process of
		// the same binary (replaced.go), the module's instance is the old process's until moved.
		d := mod.d
		mod.cfg = m
		s.mu.Unlock()

		ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
		defer cancel()
		p, err := d.awaitStart(ctx)
		if err != nil {
			return fmt.Errorf("start %s: %w", m.Id, err)
		}
		if err := s.startOn(ctx, p, mod); !s.reloadedSince(mod, err) {
			return err
		}
	}
}

// reloadedSince reports whether a Start or Update of mod failed because a reload moved the
// module to a new instance meanwhile: the caller sends it again, to that instance.
func (s *Supervisor) reloadedSince(mod *module, err error) bool {
	if !errors.Is(err, ErrModuleNotRunning) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.modules[mod.id]
	return cur != nil && cur != mod && cur.d.binary == mod.d.binary
}

// Update sends a module's new configuration to its process.
func (s *Supervisor) Update(ctx context.Context, m *pb.Module) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	for {
		s.mu.Lock()
		mod := s.modules[m.GetId()]
		if mod == nil {
			s.mu.Unlock()
			return fmt.Errorf("%w: %s", ErrModuleNotRunning, m.GetId())
		}
		mod.cfg = proto.Clone(m).(*pb.Module)
		s.mu.Unlock()
		p, err := mod.d.await(ctx)
		if err != nil {
			return fmt.Errorf("update %s: %w", m.Id, err)
		}
		if err := s.startOn(ctx, p, mod); !s.reloadedSince(mod, err) {
			return err
		}
	}
}

// Stop stops a module; when it was the last of its driver, the driver process is terminated.
func (s *Supervisor) Stop(ctx context.Context, moduleID string) error {
	s.mu.Lock()
	mod := s.modules[moduleID]
	if mod == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrModuleNotRunning, moduleID)
	}
	d := mod.d
	delete(s.modules, moduleID)
	delete(d.modules, moduleID)
	if mod.abort != nil {
		mod.abort(errStopped) // its Start in flight would hold the op lock below
	}
	last := len(d.modules) == 0
	if last && s.drivers[d.binary] == d {
		delete(s.drivers, d.binary)
	}
	p := d.proc
	s.mu.Unlock()

	var err error
	if !last {
		mod.op.Lock()
		if p != nil && mod.gen == p.gen && !p.hasExited() {
			ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
			cctx, ccancel := p.callCtx(ctx)
			_, rerr := p.rpc.Stop(cctx, &pb.ModuleRequest{ModuleId: moduleID})
			ccancel()
			if rerr != nil && !p.hasExited() {
				err = p.callErr(ctx, rerr, "stop "+moduleID)
			}
			cancel()
		}
		if p != nil {
			p.guard.leave(mod)
		}
		mod.op.Unlock()
		return err
	}
	// Terminate stops every module of the process, this one included.
	return d.close(ctx)
}

// close stops d's process and waits for its goroutine.
func (d *driver) close(ctx context.Context) error {
	d.stopOnce.Do(func() { close(d.stop) })
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop driver %s: %w", d.binary, ctx.Err())
	}
}

// callModule returns module id with one more call in flight on it. Counted under s.mu, which a
// move's switch to the new instance holds too: a call that found the old instance is one the
// move waits for before it stops it.
func (s *Supervisor) callModule(id string) (*module, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if m := s.modules[id]; m != nil {
		m.inflight.Add(1)
		return m, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrModuleNotRunning, id)
}

// Exec runs a function of a module within ctx's deadline, which the driver also hears (as
// timeout_ms, which plugin.Client.Exec sets in req: the caller hands req over); a failure the driver raised
// comes back in the response, not as an error. A call in flight when its process exits fails at
// once: the process's connection closes with it (and crashed closes go-plugin's side too), which
// ends every call on it. A hung driver process is found by the liveness probe, which kills it.
//
// Unlike the other calls, Exec derives no context of its own from the process's: it is the hot
// path, and a context layer per call (WithCancelCause, AfterFunc on the process context) cost
// several allocations and a shared lock for what the closing connection does anyway.
func (s *Supervisor) Exec(ctx context.Context, req *pb.ExecRequest) (*pb.ExecResponse, error) {
	mod, err := s.callModule(req.GetModuleId())
	if err != nil {
		return nil, err
	}
	defer mod.inflight.Add(-1)
	p, err := mod.d.await(ctx)
	if err != nil {
		return nil, fmt.Errorf("exec %s.%s: %w", req.ModuleId, req.Function, err)
	}
	req.TimeoutMs = 0
	resp, err := p.rpc.Exec(ctx, req)
	if err != nil {
		return nil, p.callErr(ctx, err, "exec "+req.ModuleId+"."+req.Function)
	}
	if resp.GetCode() == http.StatusNotFound && s.stoppedSince(mod) {
		// The driver no longer had the module because it was stopped while the call was on its
		// way (it moved to another node): the module is not running, not missing — the caller
		// sees a retryable 503, not the driver's 404.
		return nil, fmt.Errorf("%w: %s stopped while it was called", ErrModuleNotRunning, req.ModuleId)
	}
	return resp, nil
}

// stoppedSince reports whether mod is no longer the module this supervisor runs under its id.
func (s *Supervisor) stoppedSince(mod *module) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.modules[mod.id] != mod
}

// Metadata returns the driver's metadata JSON, launching its process if needed; it is cached
// for the life of the process.
func (s *Supervisor) Metadata(ctx context.Context, binary string) ([]byte, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	d := s.driverLocked(binary)
	release := d.hold()
	s.mu.Unlock()
	defer release()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	p, err := d.await(ctx)
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", binary, err)
	}
	s.mu.Lock()
	if d.metaGen == p.gen && d.metadata != nil {
		md := d.metadata
		s.mu.Unlock()
		return md, nil
	}
	s.mu.Unlock()
	cctx, ccancel := p.callCtx(ctx)
	defer ccancel()
	meta, err := readMetadata(cctx, p)
	if errors.Is(err, ErrMetadataTooLarge) {
		return nil, fmt.Errorf("metadata of %s: %w", binary, err)
	}
	if err != nil {
		return nil, p.callErr(ctx, err, "metadata")
	}
	s.mu.Lock()
	d.metadata, d.metaGen = meta, p.gen
	s.mu.Unlock()
	return meta, nil
}

// Info asks a running driver process which modules it runs.
func (s *Supervisor) Info(ctx context.Context, binary string) ([]string, error) {
	s.mu.Lock()
	d := s.drivers[binary]
	s.mu.Unlock()
	if d == nil {
		return nil, fmt.Errorf("%w: %s", ErrDriverNotRunning, binary)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	p, err := d.await(ctx)
	if err != nil {
		return nil, err
	}
	cctx, ccancel := p.callCtx(ctx)
	defer ccancel()
	resp, err := p.rpc.Info(cctx, &pb.Empty{})
	if err != nil {
		return nil, p.callErr(ctx, err, "info")
	}
	return resp.ModuleIds, nil
}

// Loaded maps every driver binary with a process to its module ids (sorted).
func (s *Supervisor) Loaded() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]string, len(s.drivers))
	for _, d := range s.allDriversLocked() {
		ids := d.moduleIDs()
		if prev, ok := out[d.binary]; ok { // a reload's old process still has some of them
			ids = append(prev, ids...)
			sort.Strings(ids)
		}
		out[d.binary] = ids
	}
	return out
}

// DriverStatus reports one driver binary's process.
func (s *Supervisor) DriverStatus(binary string) (DriverStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.drivers[binary]
	if d == nil {
		return DriverStatus{}, false
	}
	return d.statusLocked(), true
}

// Drivers reports every driver process, sorted by binary.
func (s *Supervisor) Drivers() []DriverStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DriverStatus, 0, len(s.drivers))
	for _, d := range s.drivers {
		out = append(out, d.statusLocked())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Driver < out[j].Driver })
	return out
}

func (d *driver) statusLocked() DriverStatus {
	st := DriverStatus{
		Driver:          d.binary,
		Running:         d.proc != nil && d.ready,
		ModuleInstances: len(d.modules),
		LaunchCount:     d.attempts,
		LastExitCode:    d.lastExit,
		LastExitSignal:  d.lastSignal,
		State:           d.state,
		RestartCount:    d.restarts,
		LastError:       d.lastError,
	}
	if d.proc != nil {
		st.PID = d.proc.pid
	}
	if d.spare != nil {
		st.SparePID = d.spare.p.pid
	}
	st.SpareError = d.spareError
	if !d.launchTime.IsZero() {
		st.LaunchTime = d.launchTime.Unix()
	}
	return st
}

// Kill SIGKILLs a driver's process group (chaos testing); the supervisor relaunches it.
func (s *Supervisor) Kill(binary string) error {
	_, p := s.procOf(binary)
	if p == nil {
		return fmt.Errorf("%w: %s", ErrDriverNotRunning, binary)
	}
	p.kill("killed on request")
	return nil
}

// procOf is binary's driver and its current process (nil, nil: none).
func (s *Supervisor) procOf(binary string) (*driver, *process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.drivers[binary]
	if d == nil {
		return nil, nil
	}
	return d, d.proc
}

// Close terminates every driver process (Terminate, then the process group is killed) and
// waits for them. With ctx done first it kills what is left and returns ctx's error.
func (s *Supervisor) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	drivers := s.allDriversLocked()
	s.drivers = map[string]*driver{}
	s.modules = map[string]*module{}
	s.mu.Unlock()

	var wg sync.WaitGroup
	errs := make([]error, len(drivers))
	for i, d := range drivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.close(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, d := range drivers {
			// A process still in its handshake is not d.proc yet; kill it by pid.
			s.mu.Lock()
			p, spare, launching, spareLaunching := d.proc, d.spare, d.launching, d.spareLaunching
			s.mu.Unlock()
			if p != nil {
				p.kill("supervisor closed")
			}
			if spare != nil {
				spare.p.kill("supervisor closed")
			}
			launching.Kill(0)
			spareLaunching.Kill(0)
		}
		return err
	}
	s.wg.Wait()
	return nil
}
