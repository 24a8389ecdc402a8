package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/plugin"
)

// process is one running driver process.
type process struct {
	gen     uint64 // launch number within the supervisor, so modules know which process started them
	pid     int
	binary  string
	started time.Time
	client  *goplugin.Client
	rpc     *plugin.Client
	run     *procRunner

	// ctx is cancelled with cause ErrProcessExited the moment the process exits; every call
	// derives from it so that calls in flight fail at once.
	ctx context.Context

	cleanupOnce sync.Once

	mu         sync.Mutex
	killReason string // why the supervisor killed it, "" if it died on its own
}

func (p *process) exited() <-chan struct{} { return p.run.exited }

func (p *process) hasExited() bool {
	select {
	case <-p.run.exited:
		return true
	default:
		return false
	}
}

// exitStatus is a human line ("exit status 2", "signal: killed") and the code PlaceOS reports.
func (p *process) exitStatus() (string, int) {
	st := p.run.state
	if st == nil {
		return "unknown", -1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return st.String(), 128 + int(ws.Signal())
	}
	return st.String(), st.ExitCode()
}

// kill SIGKILLs the process group, remembering why for the crash log and last_error.
func (p *process) kill(reason string) {
	p.mu.Lock()
	if p.killReason == "" {
		p.killReason = reason
	}
	p.mu.Unlock()
	killGroup(p.pid)
}

func (p *process) reason() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killReason
}

// cleanup releases go-plugin's side (connections, socket folder); once the process is gone it
// returns quickly, before that it asks go-plugin for a graceful shutdown first.
func (p *process) cleanup() { p.cleanupOnce.Do(p.client.Kill) }

// callCtx derives a call context that is cancelled as soon as the process exits.
func (p *process) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	cctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(p.ctx, func() { cancel(ErrProcessExited) })
	return cctx, func() { stop(); cancel(nil) }
}

// callErr turns a failed RPC into one of the package's errors. what names the call for the
// message; ctx is the caller's context (with the exec deadline), not the derived call context.
func (p *process) callErr(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	// gRPC may see the connection break a moment before the runner reaps the process; give the
	// runner a short grace period so the caller gets the clear error.
	if status.Code(err) == codes.Unavailable || status.Code(err) == codes.Canceled {
		select {
		case <-p.exited():
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
	if p.hasExited() {
		st, _ := p.exitStatus()
		return fmt.Errorf("%w during %s (driver %s, pid %d, %s)", ErrProcessExited, what, p.binary, p.pid, st)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
		return fmt.Errorf("%w: %s (driver %s)", ErrTimeout, what, p.binary)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unknown {
		// The driver's own answer (an OnLoad that failed): its words, without gRPC's wrapping.
		err = errors.New(st.Message())
	}
	return fmt.Errorf("%s (driver %s): %w", what, p.binary, err)
}

// launch starts one process of d's binary and connects to it.
func (s *Supervisor) launch(d *driver, gen uint64) (*process, error) {
	if s.cfg.SecureConfig != nil {
		if sc := s.cfg.SecureConfig(d.binary); sc != nil {
			ok, err := sc.Check(d.binary)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrChecksum, d.binary, err)
			}
			if !ok {
				return nil, fmt.Errorf("%w: %s", ErrChecksum, d.binary)
			}
		}
	}
	var extraEnv []string
	if s.cfg.Env != nil {
		extraEnv = s.cfg.Env(d.binary)
	}
	var pr *procRunner
	cc := plugin.ClientConfig(exec.Command(d.binary), s.host, d.pluginLog, nil)
	// Drivers are third-party code: they get go-plugin's handshake variables and driverEnv, never
	// the engine's own environment (cluster secret, JWT secret, Redis URL).
	cc.SkipHostEnv = true
	// Our own runner, not go-plugin's: it runs the process in its own group, kills the whole
	// group, and tells us the moment the process exits and with what status.
	cc.Cmd = nil
	cc.RunnerFunc = func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
		cmd := exec.Command(d.binary)
		cmd.Env = append(append(spec.Env, driverEnv()...), extraEnv...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var err error
		pr, err = newProcRunner(cmd)
		if err != nil {
			return nil, err
		}
		pr.onStart = func(pid int) {
			s.mu.Lock()
			d.launching = pid
			s.mu.Unlock()
		}
		return pr, nil
	}
	defer func() {
		s.mu.Lock()
		d.launching = 0
		s.mu.Unlock()
	}()
	client := goplugin.NewClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CallTimeout)
	defer cancel()
	rpc, err := plugin.Connect(ctx, client)
	if err != nil {
		client.Kill()
		if pr != nil && pr.pid > 0 {
			killGroup(pr.pid)
		}
		return nil, err
	}
	pctx, pcancel := context.WithCancelCause(context.Background())
	p := &process{gen: gen, pid: pr.pid, binary: d.binary, started: pr.started, client: client, rpc: rpc, run: pr, ctx: pctx}
	go func() {
		<-pr.exited
		pcancel(ErrProcessExited)
	}()
	s.writePidFile(p)
	return p, nil
}

// procRunner is a go-plugin runner for a local process in its own process group.
type procRunner struct {
	cmd     *exec.Cmd
	stdout  io.ReadCloser
	stderr  io.ReadCloser
	pid     int
	started time.Time
	exited  chan struct{}
	state   *os.ProcessState // set before exited is closed
	onStart func(pid int)
}

func newProcRunner(cmd *exec.Cmd) (*procRunner, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &procRunner{cmd: cmd, stdout: stdout, stderr: stderr, exited: make(chan struct{})}, nil
}

func (r *procRunner) Start(context.Context) error {
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.pid = r.cmd.Process.Pid
	r.started = time.Now()
	if r.onStart != nil {
		r.onStart(r.pid)
	}
	return nil
}

// Wait is called exactly once, by go-plugin, after the process's stdout and stderr closed.
func (r *procRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.state = r.cmd.ProcessState
	close(r.exited)
	return err
}

func (r *procRunner) Kill(context.Context) error {
	killGroup(r.pid)
	return nil
}

func (r *procRunner) ID() string {
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

func (r *procRunner) Diagnose(context.Context) string {
	return "the driver binary must serve the engine's driver protocol (plugin.Serve / sdk.Serve) and write nothing else to stdout"
}
func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.cmd.Path }
func (r *procRunner) PluginToHost(n, a string) (string, string, error) {
	return n, a, nil
}
func (r *procRunner) HostToPlugin(n, a string) (string, string, error) {
	return n, a, nil
}

// killGroup SIGKILLs the process group led by pid (drivers are started with Setpgid, so the
// group id is the pid), and the process itself in case it left the group.
func killGroup(pid int) {
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// driverEnv is the part of the engine's environment a driver process sees: what a program needs
// to run (PATH, HOME, locale, time zone, temp dir) and variables meant for drivers
// (ENGINE_DRIVER_*, e.g. ENGINE_DRIVER_LOG_LEVEL).
func driverEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "PATH", name == "HOME", name == "TZ", name == "TMPDIR", name == "LANG",
			strings.HasPrefix(name, "LC_"), strings.HasPrefix(name, "ENGINE_DRIVER_"):
			out = append(out, kv)
		}
	}
	return out
}
