package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/plugin/proto"
)

// hostCallTimeout bounds each call the SDK makes to the host on its own behalf (status, logs).
const hostCallTimeout = 10 * time.Second

// module is one loaded instance of the driver.
type module struct {
	rt  *driverRuntime
	id  string
	drv Driver

	mu       sync.RWMutex
	cfg      *proto.Module
	settings json.RawMessage
	system   *ControlSystem

	ctx    context.Context // lives until the module stops
	cancel context.CancelFunc
	wg     sync.WaitGroup // goroutines started through spawn
	// spawnMu orders spawn against stop: once stop has begun no goroutine joins wg, so its
	// Wait never races an Add (a scheduler tick or a late transport callback after the stop).
	spawnMu  sync.Mutex
	stopping bool

	logRoot hclog.InterceptLogger
	log     hclog.Logger
	debugMu sync.Mutex
	sink    *debugSink

	statusMu sync.Mutex
	status   map[string]json.RawMessage
	out      *outbox

	extMu sync.Mutex
	q     *Queue
	sched *Scheduler

	// What the module is doing besides its queue, for sdktest's WaitIdle: functions running,
	// and scheduled jobs and connection hooks (handshake, OnConnect) running.
	calls, hooks atomic.Int32

	updMu   sync.Mutex
	updated chan struct{} // closed by the next settings update; made when someone waits for it
}

// settingsChanged is closed when the module's settings next change.
func (m *module) settingsChanged() <-chan struct{} {
	m.updMu.Lock()
	defer m.updMu.Unlock()
	if m.updated == nil {
		m.updated = make(chan struct{})
	}
	return m.updated
}

func (m *module) notifySettings() {
	m.updMu.Lock()
	defer m.updMu.Unlock()
	if m.updated != nil {
		close(m.updated)
		m.updated = nil
	}
}

// busy says what the module is doing, "" when it only waits for time to pass or for the device:
// no function, job or connection hook running, no command running or ready to run, and every
// status set sent to the host.
func (m *module) busy() string {
	var what []string
	if n := m.calls.Load(); n > 0 {
		what = append(what, fmt.Sprintf("%d function calls running", n))
	}
	if n := m.hooks.Load(); n > 0 {
		what = append(what, fmt.Sprintf("%d scheduled jobs or connection hooks running", n))
	}
	m.extMu.Lock()
	q := m.q
	m.extMu.Unlock()
	if q != nil {
		if b := q.busy(); b != "" {
			what = append(what, b)
		}
	}
	m.statusMu.Lock()
	if n := m.out.queued - m.out.sent; n > 0 {
		what = append(what, fmt.Sprintf("%d statuses not yet sent", n))
	}
	m.statusMu.Unlock()
	return strings.Join(what, ", ")
}

// spawn runs fn in a goroutine that stop waits for; it reports false (and does not run fn)
// once the module is stopping.
func (m *module) spawn(fn func()) bool {
	if !m.enter() {
		return false
	}
	go func() {
		defer m.wg.Done()
		fn()
	}()
	return true
}

// enter counts work in (a call of a function, a spawned goroutine) that stop waits for, so that
// what it does on its way out, a status it sets, is delivered by the unload; false once the
// module is stopping. The work ends with m.wg.Done.
func (m *module) enter() bool {
	m.spawnMu.Lock()
	defer m.spawnMu.Unlock()
	if m.stopping {
		return false
	}
	m.wg.Add(1)
	return true
}

// queue returns the module's command queue, made on first use.
func (m *module) queue() *Queue {
	m.extMu.Lock()
	defer m.extMu.Unlock()
	if m.q == nil {
		m.q = newQueue(m, m.rt.clock())
	}
	return m.q
}

func newModule(r *driverRuntime, cfg *proto.Module) (*module, error) {
	ctx, cancel := context.WithCancel(r.ctx)
	m := &module{rt: r, id: cfg.GetId(), ctx: ctx, cancel: cancel, status: map[string]json.RawMessage{}}
	if err := m.setConfig(cfg); err != nil {
		cancel()
		return nil, err
	}
	m.logRoot = hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name: r.name, Level: r.opts.logLevel, Output: r.logOut, JSONFormat: true,
	})
	m.log = m.logRoot.With("module", m.id)
	m.ctx = withModuleLog(m.ctx, m.log) // Log(b.Context()) is the module's logger
	m.out = newOutbox(m)
	m.drv = r.factory()
	b := m.drv.sdkBase()
	if b == nil {
		cancel()
		return nil, fmt.Errorf("%w: the factory returned a nil driver", errBadDriver)
	}
	b.m = m
	return m, nil
}

func (m *module) config() *proto.Module {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cfg
}

func (m *module) setConfig(cfg *proto.Module) error {
	settings := json.RawMessage(cfg.GetSettingsJson())
	if len(settings) == 0 {
		settings = json.RawMessage("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(settings, &obj); err != nil {
		return fmt.Errorf("module %s: settings are not a JSON object: %w", cfg.GetId(), ErrBadSettings)
	}
	var sys *ControlSystem
	if raw := cfg.GetControlSystemJson(); len(raw) > 0 {
		sys = &ControlSystem{}
		if err := json.Unmarshal(raw, sys); err != nil {
			return fmt.Errorf("module %s: control system JSON: %w: %w", cfg.GetId(), ErrBadSettings, err)
		}
		sys.Raw = append(json.RawMessage(nil), raw...)
	}
	m.mu.Lock()
	m.cfg, m.settings, m.system = cfg, settings, sys
	m.mu.Unlock()
	return nil
}

// runHook runs a load/update hook on the module's context and waits for it up to the hook
// timeout. It returns the hook's error or panic; a hook still running when the wait ends returns
// nil, and its failure is only logged. A failure the caller takes and answers the engine with
// (returned: OnLoad's, which fails the start) is the engine's to log — it logs it once, with the
// module and driver — so here it is DEBUG; one nobody else hears of (OnUpdate's, or one that came
// after the wait) is logged at ERROR, unless it says what prev said (the engine retries a failed
// start every few seconds): that is not news, and DEBUG.
func (m *module) runHook(ctx context.Context, name string, hook func(context.Context) error, prev error, returned bool) error {
	done := make(chan error, 1)
	var mu sync.Mutex
	waiting := true // guarded by mu: the caller still waits for the hook's answer
	if !m.spawn(func() {
		var err error
		panicked := false
		defer func() {
			if p := recover(); p != nil {
				m.log.Error("hook panicked", "hook", name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err, panicked = fmt.Errorf("%s panicked: %v", name, p), true
			}
			mu.Lock()
			taken := waiting
			done <- err
			mu.Unlock()
			if err == nil || panicked {
				return
			}
			switch {
			case prev != nil && errors.Unwrap(prev) != nil && errors.Unwrap(prev).Error() == err.Error():
				m.log.Debug("hook failed again", "hook", name, "error", err)
			case returned && taken:
				m.log.Debug("hook failed", "hook", name, "error", err)
			default:
				m.log.Error("hook failed", "hook", name, "error", err)
			}
		}()
		err = hook(m.ctx)
	}) {
		return nil
	}
	timer := time.NewTimer(m.rt.opts.hookTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		m.log.Warn("hook still running after timeout; continuing", "hook", name, "timeout", m.rt.opts.hookTimeout)
	case <-ctx.Done():
		m.log.Warn("caller gave up waiting for hook", "hook", name, "error", ctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	waiting = false
	select {
	case err := <-done: // it ended while the wait did
		return err
	default:
		return nil
	}
}

// stop cancels the module's goroutines, calls OnUnload, and flushes statuses to the host.
func (m *module) stop(ctx context.Context) {
	m.cancel()
	m.extMu.Lock()
	q, sched := m.q, m.sched
	m.extMu.Unlock()
	if q != nil {
		q.stop()
	}
	if sched != nil {
		sched.Clear()
	}
	m.spawnMu.Lock()
	m.stopping = true
	m.spawnMu.Unlock()
	waited := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(waited)
	}()
	wait := time.NewTimer(m.rt.opts.hookTimeout)
	select {
	case <-waited:
	case <-wait.C:
		// A goroutine that ignores its context must not block the host's Stop forever.
		m.log.Error("module calls or goroutines did not stop after their context ended; leaving them behind")
	}
	wait.Stop()
	if h, ok := m.drv.(interface{ OnUnload(context.Context) }); ok {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.rt.opts.hookTimeout)
		func() {
			defer func() {
				if p := recover(); p != nil {
					m.log.Error("hook panicked", "hook", "OnUnload", "panic", fmt.Sprint(p))
				}
			}()
			h.OnUnload(hctx)
		}()
		cancel()
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	m.out.close(fctx)
	cancel()
	m.setDebug(false)
	m.log.Debug("module unloaded")
}

func (m *module) setDebug(on bool) {
	m.debugMu.Lock()
	defer m.debugMu.Unlock()
	switch {
	case on && m.sink == nil:
		m.sink = &debugSink{m: m}
		m.logRoot.RegisterSink(m.sink)
	case !on && m.sink != nil:
		m.logRoot.DeregisterSink(m.sink)
		m.sink = nil
	}
}

// debugSink forwards a module's log lines at debug and above to the host while debug is on.
type debugSink struct{ m *module }

func (s *debugSink) Accept(_ string, level hclog.Level, msg string, args ...any) {
	if level < hclog.Debug {
		return
	}
	line := msg
	for i := 0; i+1 < len(args); i += 2 {
		k := fmt.Sprint(args[i])
		if k == "module" {
			continue
		}
		line += fmt.Sprintf(" %s=%v", k, args[i+1])
	}
	req := &proto.LogRequest{ModuleId: s.m.id, Level: level.String(), Message: line}
	select {
	case s.m.rt.logQ <- req:
	default: // the host is not keeping up; drop rather than block the driver
	}
}
