package supervisor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/placeos-go/engine/plugin/proto"
)

// driver is one driver binary on this node and the goroutine (run) that keeps its process alive.
// Fields below mu are guarded by Supervisor.mu.
type driver struct {
	s         *Supervisor
	binary    string
	log       hclog.Logger
	pluginLog hclog.Logger

	stop     chan struct{} // closed to make run stop the process and return
	stopOnce sync.Once
	done     chan struct{} // closed when run has returned

	modules   map[string]*module
	proc      *process // the current process, nil between processes
	launching family   // a process still in its handshake (leader 0 if none)
	// spare is the launched process waiting to take over from proc (spare.go), spareLaunching
	// one in its handshake.
	spare          *spareProc
	spareLaunching family
	spareError     string // why the last spare failed, until the next is ready
	pending        int    // calls (Move, Metadata) using the driver before it has their module
	attempts       int    // launches tried, failed ones included
	ready          bool   // proc has (re)started its modules and takes calls
	stopped        bool
	changed        chan struct{} // closed and replaced on every change of proc/ready/state
	state          string
	launchCount    int // launches that produced a working process (attempts counts them all)
	lastExit       int
	lastSignal     string
	launchTime     time.Time
	lastError      string
	restarts       int // unexpected exits since the last stable run
	// hung is set while the last launch timed out: callers fail at once instead of waiting up
	// to LaunchTimeout for each retry, which would hold them (and the engine's reconcile) again
	// on every pass.
	hung     bool
	metadata []byte
	metaGen  uint64
	lastMeta []byte // the metadata of the last process that answered, kept across a crash
	replaced replacedState
}

// module is one module the supervisor runs. cfg is guarded by Supervisor.mu; op serialises the
// module's Start/Update/Stop/Debug RPCs, and guards gen and sent.
type module struct {
	id  string
	d   *driver
	cfg *pb.Module

	op   opLock
	gen  uint64     // the process generation this module was started in (0: none)
	sent *pb.Module // the configuration that process has
	// abort ends the Start or Update in flight (nil: none); guarded by Supervisor.mu. Stop calls
	// it: a driver whose Start hangs must not hold the module's Stop behind it.
	abort context.CancelCauseFunc
	// started: a process once took its Start; until then a failure of it is its caller's to
	// report (restartModules).
	started atomic.Bool

	inflight atomic.Int64 // execs running on this instance; Move waits for them to finish
}

// notify wakes everyone waiting on a change. Caller holds s.mu.
func (d *driver) notify() {
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *driver) moduleIDs() []string {
	ids := make([]string, 0, len(d.modules))
	for id := range d.modules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// await returns the process once it takes calls, waiting within ctx while it (re)launches.
func (d *driver) await(ctx context.Context) (*process, error) { return d.awaitFor(ctx, false) }

// awaitStart is await for a module's Start: a process still starting the modules it was
// launched with (restartModules) takes it at once, rather than once the slowest of them has
// answered or slowRestart has passed. A module it is starting already waits there for its own
// start alone (startOn takes the module's lock after it), and any other is one more start.
func (d *driver) awaitStart(ctx context.Context) (*process, error) { return d.awaitFor(ctx, true) }

func (d *driver) awaitFor(ctx context.Context, launched bool) (*process, error) {
	s := d.s
	for {
		s.mu.Lock()
		switch {
		case d.stopped:
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: driver %s stopped", ErrDriverNotRunning, d.binary)
		case d.proc != nil && (d.ready || launched) && !d.proc.hasExited():
			p := d.proc
			s.mu.Unlock()
			return p, nil
		case d.state == StateCrashloop:
			err := fmt.Errorf("%w: driver %s is crash-looping (%d restarts): %s", ErrRestarting, d.binary, d.restarts, d.lastError)
			s.mu.Unlock()
			return nil, err
		case d.hung:
			err := fmt.Errorf("%w: driver %s: %s", ErrRestarting, filepath.Base(d.binary), d.lastError)
			s.mu.Unlock()
			return nil, err
		}
		ch := d.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: driver %s not back within the call's deadline: %w", ErrRestarting, d.binary, ctx.Err())
		}
	}
}

// run launches the process and relaunches it until stop is closed.
func (d *driver) run() {
	defer d.s.wg.Done()
	defer close(d.done)
	if d.s.cfg.Spare {
		var keeper sync.WaitGroup
		keeper.Go(d.keepSpare)
		defer keeper.Wait() // run returns once d.stop is closed, which ends the keeper too
	}
	defer func() {
		d.s.mu.Lock()
		d.stopped, d.proc, d.ready = true, nil, false
		d.s.cfg.Metrics.DriverState(d.binary, d.state, "") // the driver is gone from this node
		d.notify()
		d.s.mu.Unlock()
	}()
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		if d.retireIfIdle() {
			return
		}
		d.s.mu.Lock()
		d.attempts++
		d.s.gen++
		gen := d.s.gen
		d.s.mu.Unlock()
		var err error
		p := d.takeSpare()
		if p == nil {
			p, err = d.s.launch(d, gen, &d.launching)
		}
		if err != nil {
			d.failed(err)
		} else if !d.serve(p) {
			return
		} else if _, code, _ := p.exitStatus(); d.fenced(code) != "" && !d.awaitContact() {
			return
		}
		if delay := d.backoff(); delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-d.stop:
				t.Stop()
				return
			}
		}
	}
}

// retireIfIdle stops the driver when it has no module and nothing is about to give it one: a
// process that crash-loops must not be relaunched for ever after its last module stopped or
// moved away (nor a process launched only to read its metadata be kept).
func (d *driver) retireIfIdle() bool {
	s := d.s
	s.mu.Lock()
	idle := len(d.modules) == 0 && d.pending == 0 && d.attempts > 0
	if idle && s.drivers[d.binary] == d {
		delete(s.drivers, d.binary)
	}
	s.mu.Unlock()
	if idle {
		d.stopOnce.Do(func() { close(d.stop) })
		d.log.Info("driver has no module left: not relaunched")
	}
	return idle
}

// hold marks a call that uses d before d has its module, so d is not retired meanwhile; the
// returned function ends it. Caller holds s.mu.
func (d *driver) hold() func() {
	d.pending++
	return func() {
		d.s.mu.Lock()
		d.pending--
		d.s.mu.Unlock()
	}
}

// backoff is the delay before the next launch: none after a stable run, then BackoffInitial
// doubling up to BackoffMax.
func (d *driver) backoff() time.Duration {
	d.s.mu.Lock()
	n := d.restarts
	d.s.mu.Unlock()
	if n <= 1 {
		return 0
	}
	delay := d.s.cfg.BackoffInitial
	for i := 2; i < n && delay < d.s.cfg.BackoffMax; i++ {
		delay *= 2
	}
	return min(delay, d.s.cfg.BackoffMax)
}

// setState changes the process state and its gauge. Caller holds s.mu.
func (d *driver) setState(state string) {
	d.s.cfg.Metrics.DriverState(d.binary, d.state, state)
	d.state = state
}

func (d *driver) failedState() string {
	if d.restarts >= d.s.cfg.CrashloopAfter {
		return StateCrashloop
	}
	return StateRestarting
}

// exitedPrefix begins the lastError of a process that exited.
const exitedPrefix = "driver process exited: "

// failed records a launch that did not produce a working process.
func (d *driver) failed(err error) {
	s := d.s
	s.mu.Lock()
	d.restarts++
	again := d.lastError == err.Error()
	ran := false // a module of it ran: nobody waits for its start, to report this
	for _, m := range d.modules {
		ran = ran || m.started.Load()
	}
	d.lastError = err.Error()
	d.hung = errors.Is(err, ErrLaunchTimeout)
	var ee *exitError
	if errors.As(err, &ee) {
		d.lastExit, d.lastSignal = ee.code, ee.signal
	}
	d.setState(d.failedState())
	s.cfg.Metrics.DriverRestarted(d.binary)
	d.notify()
	restarts, mods, state := d.restarts, d.moduleIDs(), d.state
	s.mu.Unlock()
	log := d.log.Error
	if again || !ran {
		// Each launch retried fails alike, and a module's first start fails with this reason
		// for its caller, which reports it (the engine: one ERROR per module).
		log = d.log.Debug
	}
	log("driver process failed to start", "error", err, "restart_count", restarts, "modules", mods, "state", state)
	d.tellState(mods, ProcessState{State: state, Restarts: restarts, Reason: err.Error()})
}

// serve runs one process until it exits (true: relaunch) or the driver is stopped (false).
func (d *driver) serve(p *process) bool {
	s := d.s
	s.mu.Lock()
	d.proc, d.ready, d.hung = p, false, false
	d.launchCount++
	d.launchTime = p.started
	d.notify()
	launches, attempts := d.launchCount, d.attempts
	s.mu.Unlock()
	d.log.Info("driver process started", "pid", p.pid, "launch_count", attempts, "spare", p.spare)

	probeDone := make(chan struct{})
	var probeWG sync.WaitGroup
	if d.s.cfg.FenceAfter > 0 {
		// From the start: an engine that stalls while the modules start must not leave them running.
		probeWG.Go(func() { d.heartbeat(p, probeDone) })
	}
	slow := d.restartModules(p)
	defer slow()
	s.mu.Lock()
	up := !p.hasExited()
	if up {
		d.ready = true
		d.setState(StateRunning)
		d.notify()
	}
	mods := d.moduleIDs()
	// The restarts are counted until the next exit (crashed resets them lazily): a process up
	// again after some is not all fine until it has run StableAfter.
	ps := ProcessState{State: StateRunning, Restarts: d.restarts}
	if ps.Restarts > 0 {
		ps.Reason = strings.TrimPrefix(d.lastError, exitedPrefix)
		ps.StableAt = p.started.Add(s.cfg.StableAfter)
	}
	s.mu.Unlock()
	if up {
		d.tellState(mods, ps)
	}
	// The probe before the metadata read: a process that hangs (a spare that froze before it
	// was taken) would hold that read for CallTimeout, and its modules down with it.
	probeWG.Go(func() { d.probe(p, probeDone) })
	d.refreshMetadata(p, launches)

	select {
	case <-p.exited():
		close(probeDone)
		probeWG.Wait()
		d.crashed(p)
		return true
	case <-d.stop:
		close(probeDone)
		probeWG.Wait()
		d.shutdown(p)
		return false
	}
}

// restartModules starts every module the process does not have yet, re-enabling debug
// forwarding for modules that still have listeners, Config.Parallel at a time: the process takes
// calls once it has them all, and one at a time a process with 2,500 modules took most of a
// second. It waits for them up to slowRestart: a module whose Start hangs in the driver's own
// code goes on starting while the process takes calls, rather than hold every other module of
// the driver for up to CallTimeout. The function it returns waits for those still starting.
func (d *driver) restartModules(p *process) (wait func()) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		d.startAll(p, &wg)
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(slowRestart)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		d.log.Debug("modules still starting: the process takes calls meanwhile", "pid", p.pid)
	case <-p.exited():
	}
	return func() { <-done }
}

// slowRestart is how long a (re)launched process waits for its modules' starts before it takes
// calls; a var for the tests.
var slowRestart = 2 * time.Second

// startAll starts d's modules in p, adding each start to wg.
func (d *driver) startAll(p *process, wg *sync.WaitGroup) {
	s := d.s
	s.mu.Lock()
	mods := make([]*module, 0, len(d.modules))
	for _, id := range d.moduleIDs() {
		mods = append(mods, d.modules[id])
	}
	s.mu.Unlock()
	sem := make(chan struct{}, s.cfg.Parallel)
	for _, m := range mods {
		if p.hasExited() {
			return
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CallTimeout)
			err := s.startOn(ctx, p, m)
			cancel()
			switch {
			case err == nil, errors.Is(err, ErrModuleNotRunning): // started, or stopped meanwhile
			case !m.started.Load():
				// Its first start: the caller of Start waits for it, gets the error and reports it.
				d.log.Debug("module failed to start", "module", m.id, "pid", p.pid, "error", s.scrub(m.id, err.Error()))
			default:
				// A restart after a crash has no caller: this line is its one report.
				d.log.Error("module failed to start", "module", m.id, "pid", p.pid, "error", s.scrub(m.id, err.Error()))
			}
		})
	}
}

// crashed handles a process that exited without being asked to.
func (d *driver) crashed(p *process) {
	s := d.s
	exitStatus, code, signal := p.exitStatus()
	// Fenced first: a probe that failed as the process was exiting may have "killed" it too.
	reason, oom := p.exitReason(d.fenced(code))
	if oom {
		d.log.Error("driver killed: out of memory"+limitNote(p.memLimit), "pid", p.pid, "exit_status", exitStatus)
		s.cfg.Metrics.DriverOutOfMemory(d.binary)
	}
	s.mu.Lock()
	if time.Since(p.started) >= s.cfg.StableAfter {
		d.restarts = 0
	}
	d.restarts++
	d.proc, d.ready = nil, false
	d.lastExit, d.lastSignal = code, signal
	d.lastError = exitedPrefix + reason
	d.setState(d.failedState())
	s.cfg.Metrics.DriverRestarted(d.binary)
	d.metadata = nil
	d.notify()
	restarts, mods, state := d.restarts, d.moduleIDs(), d.state
	s.mu.Unlock()

	d.log.Error("driver process exited", "pid", p.pid, "exit_status", exitStatus, "exit_code", code,
		"restart_count", restarts, "modules", mods, "reason", reason, "state", state,
		"uptime", time.Since(p.started).Round(time.Millisecond).String())
	d.tellState(mods, ProcessState{State: state, Restarts: restarts, Reason: reason})
	s.wg.Go(func() { d.bury(p) }) // the run goroutine holds s.wg above zero
}

// bury finishes a process that exited by itself: go-plugin's side of it, then, once it is reaped
// (procRunner.wait kills what it left behind first, which takes a /proc scan), its cgroup with
// whatever escaped the group, and its pid file. In the background: the relaunch does not wait.
func (d *driver) bury(p *process) {
	p.cleanup()
	<-p.run.reaped
	p.run.group.kill()
	d.s.removePidFile(p.binary, p.pid)
}

// shutdown stops a process on purpose: Terminate, go-plugin's graceful close, then the group.
func (d *driver) shutdown(p *process) {
	s := d.s
	hung := false
	if !p.hasExited() {
		ctx, cancel := context.WithTimeout(context.Background(), terminateTimeout)
		if _, err := p.rpc.Terminate(ctx, &pb.Empty{}); err != nil && !p.hasExited() {
			d.log.Warn("driver did not answer Terminate", "pid", p.pid, "error", err)
			hung = true
		}
		cancel()
	}
	p.mu.Lock()
	p.killReason = "stopped"
	p.mu.Unlock()
	// go-plugin's graceful close asks the process to shut down and waits for its answer with no
	// deadline: a hung (frozen) process would hold the stop for ever. One that did not answer
	// Terminate is killed first; one that hangs after answering it, once the close has taken
	// longer than go-plugin's own wait for a graceful exit (2 s) allows.
	if hung {
		p.run.killAll()
	}
	watchdog := time.AfterFunc(2*terminateTimeout, p.run.killAll)
	p.cleanup() // go-plugin's graceful close, then procRunner.Kill
	watchdog.Stop()
	p.run.killAll() // should the close have left it running; its children go as it exits
	p.run.group.kill()
	select {
	case <-p.run.reaped:
		s.removePidFile(p.binary, p.pid)
	case <-time.After(terminateTimeout):
		d.log.Error("driver process did not exit after SIGKILL", "pid", p.pid) // its pid file stays: the next start kills it
	}
	exitStatus, _, _ := p.exitStatus()
	d.log.Info("driver process stopped", "pid", p.pid, "exit_status", exitStatus)
}

// probe calls Info every ProbeInterval and kills a process that does not answer in time. It
// also notices the binary file replaced under the process, and has it loaded (replaced.go).
func (d *driver) probe(p *process, done <-chan struct{}) {
	cfg := d.s.cfg
	t := time.NewTicker(cfg.ProbeInterval)
	defer t.Stop()
	for nextTick(t, p, done) {
		if d.retireIfIdle() {
			return
		}
		ctx, cancel := context.WithTimeout(p.ctx, cfg.ProbeTimeout)
		_, err := p.rpc.Info(ctx, &pb.Empty{})
		cancel()
		if err == nil {
			d.noticeReplaced(p)
		}
		if err != nil && status.Code(err) == codes.Unavailable {
			// The connection broke: the process is exiting (a fence), which the runner sees a
			// moment later; it is no hang to kill.
			select {
			case <-p.exited():
			case <-time.After(exitGrace):
			}
		}
		if err == nil || p.hasExited() {
			continue
		}
		select {
		case <-done:
			return
		default:
		}
		d.log.Error("driver process unresponsive, killing it", "pid", p.pid, "probe_timeout", cfg.ProbeTimeout.String(), "error", err)
		p.kill(fmt.Sprintf("unresponsive: Info probe got no answer within %s", cfg.ProbeTimeout))
		return
	}
}

// nextTick waits for t's next tick: false once done is closed or p exited first.
func nextTick(t *time.Ticker, p *process, done <-chan struct{}) bool {
	select {
	case <-done:
		return false
	case <-p.exited():
		return false
	case <-t.C:
		return true
	}
}

// startOn sends Start for m to p unless p already has it, calling OnModuleStart first, and
// re-enables debug forwarding if m has listeners.
//
// It waits for the module's call in flight within ctx, and Stop aborts it: a Start that hangs in
// the driver holds neither its caller past ctx nor the module's Stop.
func (s *Supervisor) startOn(ctx context.Context, p *process, m *module) error {
	if err := m.op.lockCtx(ctx); err != nil {
		return fmt.Errorf("module %s: waiting for its call in flight: %w", m.id, err)
	}
	defer m.op.Unlock()
	actx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	s.mu.Lock()
	current := s.modules[m.id] == m
	cfg := m.cfg
	if current {
		m.abort = abort
	}
	s.mu.Unlock()
	if !current {
		return fmt.Errorf("%w: %s was stopped", ErrModuleNotRunning, m.id)
	}
	defer func() {
		s.mu.Lock()
		m.abort = nil
		s.mu.Unlock()
	}()
	fail := func(err error, what string) error {
		if errors.Is(context.Cause(actx), errStopped) {
			return fmt.Errorf("%w: %s was stopped during its %s", ErrModuleNotRunning, m.id, what)
		}
		return p.callErr(ctx, err, what+" "+m.id)
	}
	cctx, cancel := p.callCtx(actx)
	defer cancel()
	if m.gen == p.gen {
		if proto.Equal(m.sent, cfg) {
			return nil
		}
		if _, err := p.rpc.Update(cctx, &pb.StartRequest{Module: cfg}); err != nil {
			return fail(err, "update")
		}
		m.sent = cfg
		return nil
	}
	if s.cfg.OnModuleStart != nil {
		s.cfg.OnModuleStart(actx, m.id)
	}
	p.guard.admit(m)
	if _, err := p.rpc.Start(cctx, &pb.StartRequest{Module: cfg}); err != nil {
		return fail(err, "start")
	}
	m.gen, m.sent = p.gen, cfg
	m.started.Store(true)
	if s.hasListeners(m.id) {
		if _, err := p.rpc.Debug(cctx, &pb.ModuleRequest{ModuleId: m.id}); err != nil {
			return fail(err, "debug")
		}
	}
	return nil
}

// errStopped is the cause with which Stop aborts a module's Start or Update in flight.
var errStopped = errors.New("module stopped")

// opLock is a mutex whose lock a caller can give up on when its context ends.
type opLock struct {
	once sync.Once
	ch   chan struct{}
}

func (l *opLock) c() chan struct{} {
	l.once.Do(func() { l.ch = make(chan struct{}, 1) })
	return l.ch
}

func (l *opLock) Lock()   { l.c() <- struct{}{} }
func (l *opLock) Unlock() { <-l.c() }

func (l *opLock) lockCtx(ctx context.Context) error {
	select {
	case l.c() <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
