package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/sdk/internal/driverrt"
)

// Driver is satisfied by any pointer to a struct that embeds sdk.Base.
type Driver interface {
	sdkBase() *Base
}

// driverRuntime hosts the modules of one driver in one process: it is the plugin.Driver that Serve
// serves, and what sdktest drives in-process through driverrt.New.
type driverRuntime struct {
	opts    *options
	dt      *driverType
	factory func() Driver
	name    string
	logOut  io.Writer
	log     hclog.Logger
	metaRaw []byte

	hostMu    sync.RWMutex
	host      proto.HostClient
	hostReady chan struct{} // closed by Connect

	mu      sync.Mutex
	modules map[string]*module
	failed  map[string]error       // modules whose OnLoad failed, until they load or stop
	locks   map[string]*sync.Mutex // serialises Start/Update/Stop per module id

	subs subMux // status subscriptions, over one stream

	logQ   chan *proto.LogRequest
	ctx    context.Context // the runtime's lifetime; Close cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	exit      func() // set by Serve: ends the process after Terminate
}

// errModuleNotRunning answers the host's calls naming a module this process does not host.
var errModuleNotRunning = errkind.New(errkind.NotFound, "module not running in this driver")

var _ driverrt.Runtime = (*driverRuntime)(nil)

func init() {
	driverrt.New = newRuntimeOf
	driverrt.ErrorResponse = errorResponse
	driverrt.ExecError = execError
}

var driverInterface = reflect.TypeFor[Driver]()

// newRuntimeOf is driverrt.New. Its arguments arrive untyped, so the driver type comes from the
// factory's signature.
func newRuntimeOf(factory any, logOut io.Writer, opts ...any) (driverrt.Runtime, error) {
	ft := reflect.TypeOf(factory)
	if ft == nil || ft.Kind() != reflect.Func || ft.NumIn() != 0 || ft.NumOut() != 1 ||
		!ft.Out(0).Implements(driverInterface) {
		return nil, fmt.Errorf("%w: the factory is a %T, not a func() D for a driver type D", errBadDriver, factory)
	}
	sdkOpts := make([]Option, len(opts))
	for i, opt := range opts {
		var ok bool
		if sdkOpts[i], ok = opt.(Option); !ok {
			return nil, fmt.Errorf("%w: option %d is a %T, not an sdk.Option", errBadDriver, i, opt)
		}
	}
	o := buildOptions(sdkOpts)
	o.logOut = logOut
	fv := reflect.ValueOf(factory)
	return newRuntime(ft.Out(0), func() Driver { return fv.Call(nil)[0].Interface().(Driver) }, o)
}

// newRuntime describes driver type t and returns a runtime ready to host its modules, each a
// value factory makes. It fails when the driver's declarations are invalid (bad tags or
// defaults).
func newRuntime(t reflect.Type, factory func() Driver, o *options) (*driverRuntime, error) {
	dt, err := describeType(t, o)
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(dt.meta)
	if err != nil {
		return nil, fmt.Errorf("sdk: encode metadata: %w", err)
	}
	name := o.name
	if name == "" {
		name = snakeCase(dt.typ.Elem().Name())
	}
	out := o.logOut
	if out == nil {
		out = os.Stderr
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &driverRuntime{
		opts:      o,
		dt:        dt,
		factory:   factory,
		name:      name,
		logOut:    out,
		metaRaw:   meta,
		hostReady: make(chan struct{}),
		modules:   map[string]*module{},
		failed:    map[string]error{},
		locks:     map[string]*sync.Mutex{},
		logQ:      make(chan *proto.LogRequest, 1024),
		ctx:       ctx,
		cancel:    cancel,
	}
	r.subs.rt = r
	// The logger's name is the driver's; no "driver" field, which the engine sets on every line
	// it lifts from the process (the binary's path): a line would carry the key twice.
	r.log = hclog.New(&hclog.LoggerOptions{
		Name: name, Level: o.logLevel, Output: out, JSONFormat: true,
	})
	for _, s := range dt.skipped {
		r.log.Warn("exported method not exposed as a function", "method", s)
	}
	r.wg.Add(1)
	go r.forwardLogs()
	return r, nil
}

func (r *driverRuntime) clock() Clock { return r.opts.clock }

// Connect receives the host's callback client (plugin.Driver).
func (r *driverRuntime) Connect(host proto.HostClient) {
	r.hostMu.Lock()
	defer r.hostMu.Unlock()
	if r.host != nil {
		return
	}
	r.host = host
	close(r.hostReady)
}

// hostClient waits until the host is connected, ctx ends or the runtime closes.
func (r *driverRuntime) hostClient(ctx context.Context) (proto.HostClient, error) {
	select {
	case <-r.hostReady:
		r.hostMu.RLock()
		defer r.hostMu.RUnlock()
		return r.host, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrNoHost, ctx.Err())
	case <-r.ctx.Done():
		return nil, ErrNoHost
	}
}

func (r *driverRuntime) lockFor(id string) func() {
	r.mu.Lock()
	l, ok := r.locks[id]
	if !ok {
		l = &sync.Mutex{}
		r.locks[id] = l
	}
	r.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (r *driverRuntime) module(id string) *module {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.modules[id]
}

// Start loads a module; a Start for a module that is already running is an Update.
func (r *driverRuntime) Start(ctx context.Context, req *proto.StartRequest) (*proto.Empty, error) {
	cfg := req.GetModule()
	if cfg.GetId() == "" {
		return nil, fmt.Errorf("%w: start without a module id", ErrBadSettings)
	}
	defer r.lockFor(cfg.GetId())()
	if m := r.module(cfg.GetId()); m != nil {
		return &proto.Empty{}, r.update(ctx, m, cfg)
	}
	return &proto.Empty{}, r.load(ctx, cfg)
}

// Update applies a new configuration to a running module. A module whose OnLoad failed is
// loaded again with it.
func (r *driverRuntime) Update(ctx context.Context, req *proto.StartRequest) (*proto.Empty, error) {
	cfg := req.GetModule()
	defer r.lockFor(cfg.GetId())()
	m := r.module(cfg.GetId())
	if m == nil {
		if r.loadError(cfg.GetId()) != nil {
			return &proto.Empty{}, r.load(ctx, cfg)
		}
		return nil, fmt.Errorf("update %s: %w", cfg.GetId(), errModuleNotRunning)
	}
	return &proto.Empty{}, r.update(ctx, m, cfg)
}

// Stop unloads a module; stopping a module that is not running is not an error.
func (r *driverRuntime) Stop(ctx context.Context, req *proto.ModuleRequest) (*proto.Empty, error) {
	defer r.lockFor(req.GetModuleId())()
	r.mu.Lock()
	m := r.modules[req.GetModuleId()]
	delete(r.modules, req.GetModuleId())
	delete(r.failed, req.GetModuleId())
	r.mu.Unlock()
	if m != nil {
		m.stop(ctx)
	}
	return &proto.Empty{}, nil
}

// load creates the module and runs OnLoad. When OnLoad fails the module is stopped again (what
// OnLoad opened is closed) and the error is Start's answer: the engine shows the module as failed
// with it and tries again later. Until then an exec answers with it (503), and an Update loads
// the module again.
func (r *driverRuntime) load(ctx context.Context, cfg *proto.Module) error {
	m, err := newModule(r, cfg)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.modules[m.id] = m
	prev := r.failed[m.id]
	delete(r.failed, m.id)
	r.mu.Unlock()
	m.log.Debug("module loaded")
	h, ok := m.drv.(interface{ OnLoad(context.Context) error })
	if !ok {
		return nil
	}
	err = m.runHook(ctx, "OnLoad", h.OnLoad, prev, true)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("module %s did not load: %w", m.id, err)
	r.mu.Lock()
	delete(r.modules, m.id)
	r.failed[m.id] = err
	r.mu.Unlock()
	m.stop(ctx)
	return err
}

// loadError is why module id did not load, nil when it did or is unknown.
func (r *driverRuntime) loadError(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed[id]
}

func (r *driverRuntime) update(ctx context.Context, m *module, cfg *proto.Module) error {
	if st := r.dt.settings; st != nil {
		// Checked before the update is taken, as OnLoad's Settings would check them at the next
		// start: out of range, the module runs on with the settings it has, and the engine hears
		// why (its Update fails: logged once there, tried again on every pass).
		raw := json.RawMessage(cfg.GetSettingsJson())
		if len(raw) == 0 {
			raw = json.RawMessage("{}")
		}
		if err := st.read(raw, reflect.New(st.typ).Interface()); err != nil {
			m.log.Debug("settings update refused; the module runs on with its settings as they were", "error", err)
			return fmt.Errorf("module %s: settings update refused: %w", m.id, err)
		}
	}
	if restartNeeded(m.config(), cfg) {
		m.log.Info("connection settings changed, restarting module")
		r.mu.Lock()
		delete(r.modules, m.id)
		r.mu.Unlock()
		m.stop(ctx)
		return r.load(ctx, cfg)
	}
	if err := m.setConfig(cfg); err != nil {
		return err
	}
	m.notifySettings()
	if h, ok := m.drv.(interface{ OnUpdate(context.Context) error }); ok {
		// A failed update leaves the module running on what it had: logged, not an error.
		_ = m.runHook(ctx, "OnUpdate", h.OnUpdate, nil, false)
	}
	return nil
}

// restartNeeded reports a change of the fields that define the connection (docs/protocol.md §5).
func restartNeeded(a, b *proto.Module) bool {
	return a.GetIp() != b.GetIp() || a.GetPort() != b.GetPort() || a.GetTls() != b.GetTls() ||
		a.GetUdp() != b.GetUdp() || a.GetMakebreak() != b.GetMakebreak() ||
		a.GetUri() != b.GetUri() || a.GetRole() != b.GetRole()
}

// Busy says what module id is doing, "" when it is idle or not running (driverrt.Runtime).
func (r *driverRuntime) Busy(id string) string {
	if m := r.module(id); m != nil {
		return m.busy()
	}
	return ""
}

// Debug starts forwarding the module's log lines to the host.
func (r *driverRuntime) Debug(_ context.Context, req *proto.ModuleRequest) (*proto.Empty, error) {
	if m := r.module(req.GetModuleId()); m != nil {
		m.setDebug(true)
	}
	return &proto.Empty{}, nil
}

// Ignore stops forwarding the module's log lines.
func (r *driverRuntime) Ignore(_ context.Context, req *proto.ModuleRequest) (*proto.Empty, error) {
	if m := r.module(req.GetModuleId()); m != nil {
		m.setDebug(false)
	}
	return &proto.Empty{}, nil
}

// Metadata returns the driver's metadata JSON (without notes).
func (r *driverRuntime) Metadata(context.Context, *proto.Empty) (*proto.MetadataResponse, error) {
	return &proto.MetadataResponse{Json: r.metaRaw}, nil
}

// Info lists the running module ids, sorted.
func (r *driverRuntime) Info(context.Context, *proto.Empty) (*proto.InfoResponse, error) {
	r.mu.Lock()
	ids := make([]string, 0, len(r.modules))
	for id := range r.modules {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	sort.Strings(ids)
	return &proto.InfoResponse{ModuleIds: ids}, nil
}

// Terminate stops every module, then lets the process exit (when served by Serve).
func (r *driverRuntime) Terminate(ctx context.Context, _ *proto.Empty) (*proto.Empty, error) {
	r.stopAll(ctx)
	if r.exit != nil {
		r.exit()
	}
	return &proto.Empty{}, nil
}

func (r *driverRuntime) stopAll(ctx context.Context) {
	r.mu.Lock()
	mods := make([]*module, 0, len(r.modules))
	for _, m := range r.modules {
		mods = append(mods, m)
	}
	r.modules = map[string]*module{}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range mods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.stop(ctx)
		}()
	}
	wg.Wait()
}

// Close stops every module and the runtime's goroutines and waits for them.
func (r *driverRuntime) Close() error {
	r.closeOnce.Do(func() {
		r.stopAll(context.Background())
		r.cancel()
		r.wg.Wait()
	})
	return nil
}

// forwardLogs sends debug lines to the host. The queue is bounded and lines are dropped when it is
// full, so a module that floods its log cannot stall the driver.
func (r *driverRuntime) forwardLogs() {
	defer r.wg.Done()
	host, err := r.hostClient(r.ctx)
	if err != nil {
		return
	}
	for {
		select {
		case <-r.ctx.Done():
			return
		case req := <-r.logQ:
			ctx, cancel := context.WithTimeout(r.ctx, hostCallTimeout)
			_, _ = host.Log(ctx, req)
			cancel()
		}
	}
}
