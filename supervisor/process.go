package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/proctree"
	"github.com/placeos-go/engine/plugin"
)

// process is one running driver process.
type process struct {
	gen    uint64 // launch number within the supervisor, so modules know which process started them
	pid    int
	binary string
	// file is the file at binary's path when the process was launched (nil: none could be
	// read), which the probe compares with the file there now (replaced.go).
	file    os.FileInfo
	started time.Time
	client  *goplugin.Client
	rpc     *plugin.Client
	run     *procRunner
	fam     family // what the process and its children are, to kill them all on every exit
	// memLimit is the process's memory limit in bytes (0: none), env the extra environment it
	// was given (Config.Env): a spare launched before either changed is not used (spare.go).
	memLimit int64
	env      []string
	// spare: launched as the driver's spare, it took over from a process that exited.
	spare bool
	// guard is the Host service this process calls: it knows which modules the process hosts.
	guard *guardedHost

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

// exitStatus is a human line ("exit status 2", "signal: killed"), the code PlaceOS reports and
// the signal's name ("SIGKILL"; "" when the process exited).
func (p *process) exitStatus() (string, int, string) { return p.run.exitStatus() }

// exitReason is why p exited as its exit line says it, the driver process's and its spare's
// alike: the exit status alone, or after the engine's own reason (own, such as a fence; else why
// the supervisor killed it; else out of memory, when oom).
func (p *process) exitReason(own string) (reason string, oom bool) {
	exitStatus, _, _ := p.exitStatus()
	if own == "" {
		own = p.reason()
	}
	if own == "" && p.run.outOfMemory() {
		own, oom = "out of memory"+limitNote(p.memLimit), true
	}
	if own == "" {
		return exitStatus, oom
	}
	return own + " (" + exitStatus + ")", oom
}

func (r *procRunner) exitStatus() (string, int, string) {
	select {
	case <-r.exited:
	default:
		return "unknown", -1, "" // it has not exited (yet)
	}
	ws := r.status
	switch {
	case ws == unknownStatus:
		return "unknown", -1, ""
	case ws.Signaled():
		line := "signal: " + ws.Signal().String()
		if ws.CoreDump() {
			line += " (core dumped)"
		}
		return line, 128 + int(ws.Signal()), unix.SignalName(ws.Signal())
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus()), ws.ExitStatus(), ""
}

// exitError is a launch that failed because the process exited during its handshake; it
// carries the exit for the driver's status.
type exitError struct {
	err    error
	code   int
	signal string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// kill SIGKILLs the process and everything it started, remembering why for the crash log and
// last_error.
func (p *process) kill(reason string) {
	p.mu.Lock()
	if p.killReason == "" {
		p.killReason = reason
	}
	p.mu.Unlock()
	p.run.killAll()
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

// exitGrace is how long a call that lost its connection waits for the runner to see the process
// exit: gRPC may see the connection break a moment before the runner reaps the process.
const exitGrace = time.Second

// callErr turns a failed RPC into one of the package's errors. what names the call for the
// message; ctx is the caller's context (with the exec deadline), not the derived call context.
func (p *process) callErr(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	// The caller gets the clear error if the process is exiting.
	if status.Code(err) == codes.Unavailable || status.Code(err) == codes.Canceled {
		select {
		case <-p.exited():
		case <-time.After(exitGrace):
		case <-ctx.Done():
		}
	}
	if p.hasExited() {
		st, _, _ := p.exitStatus()
		return fmt.Errorf("%w during %s (driver %s, pid %d, %s)", ErrProcessExited, what, filepath.Base(p.binary), p.pid, st)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
		return fmt.Errorf("%w: %s (driver %s)", ErrTimeout, what, filepath.Base(p.binary))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	if status.Code(err) == codes.Unavailable {
		// The process lives, but the call's connection or Execs stream ended under it (a frozen
		// process's stream, ended by a call stuck in its send; a driver that ended its side):
		// the driver did not take the call, and the caller may try again — not a failure of
		// the node.
		return fmt.Errorf("%w: %s (driver %s): %s", ErrCallLost, what, filepath.Base(p.binary), status.Convert(err).Message())
	}
	if status.Code(err) == codes.ResourceExhausted {
		// An answer over the gRPC message limit (a function returning 100 MB): the driver's
		// fault, told to the caller as such rather than as an unexpected failure of the node.
		return &errkind.DriverError{Class: "TooLarge", Code: http.StatusBadGateway,
			Message: fmt.Sprintf("%s: the driver's answer exceeds the %d MiB limit of a driver call", what, plugin.MaxMessageSize>>20)}
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unknown {
		// The driver's own answer (an OnLoad that failed): its words, without gRPC's wrapping.
		err = &Refusal{st.Message()}
	}
	// The binary's file name, not its path: these words reach callers (a module's 503, its
	// runtime_error), who need not learn the node's directories; the node status names the path.
	return fmt.Errorf("%s (driver %s): %w", what, filepath.Base(p.binary), err)
}

// launch starts one process of d's binary and connects to it. slot holds the process while it is
// in its handshake (d.launching, or d.spareLaunching for a spare), so that a stop kills it.
func (s *Supervisor) launch(d *driver, gen uint64, slot *family) (*process, error) {
	if err := s.checkBinary(d.binary); err != nil {
		return nil, err
	}
	var extraEnv []string
	if s.cfg.Env != nil {
		extraEnv = s.cfg.Env(d.binary)
	}
	var limit int64
	if s.cfg.MemoryLimit != nil {
		limit = s.cfg.MemoryLimit(d.binary)
	}
	var pr *procRunner
	var socketDir string
	file, _ := os.Stat(d.binary) // before the launch: a file renamed over it after is loaded once more, not missed
	logs := newLogLimiter(&s.cfg, d.pluginLog, d.binary)
	guard := newGuardedHost(s.host, d)
	cc := plugin.ClientConfig(exec.Command(d.binary), guard, pluginLogger{d.pluginLog}, nil)
	cc.SyncStdout = &lineWriter{fn: func(line []byte, cut bool) { logs.plain(line, "stdout", cut) }}
	cc.SyncStderr = &lineWriter{fn: func(line []byte, cut bool) { logs.plain(line, "stderr", cut) }}
	// Drivers are third-party code: they get go-plugin's handshake variables and driverEnv, never
	// the engine's own environment (cluster secret, JWT secret, Redis URL).
	cc.SkipHostEnv = true
	// Our own runner, not go-plugin's: it runs the process in its own group, kills the whole
	// group, and tells us the moment the process exits and with what status.
	cc.Cmd = nil
	cc.RunnerFunc = func(_ hclog.Logger, spec *exec.Cmd, dir string) (runner.Runner, error) {
		socketDir = dir
		cmd := exec.Command(d.binary)
		mark := proctree.NewMark()
		env := append(append(spec.Env, driverEnv()...), goMemLimitEnv(limit)...)
		cmd.Env = append(append(env, extraEnv...), instanceEnv+"="+mark)
		// Its own process group (not session: see family): what it starts is found and killed
		// with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var group *driverGroup
		if cg := s.cg.Load(); cg != nil {
			var err error
			if group, err = cg.newGroup(mark, limit); err != nil {
				d.log.Warn("cannot make the driver process's cgroup; it gets RLIMIT_DATA", "error", err)
			} else {
				// Cloned straight into its group: nothing it starts can escape before a move.
				cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, group.fd
			}
		}
		var err error
		pr, err = newProcRunner(cmd, mark)
		if err != nil {
			group.kill()
			return nil, err
		}
		pr.group = group
		pr.onStartFailed = func(err error) {
			if group != nil {
				// Most likely a kernel without CLONE_INTO_CGROUP (before 5.7): drop cgroups.
				s.cg.Store(nil)
				d.log.Warn("starting a driver process in its cgroup failed; drivers get RLIMIT_DATA from now on", "error", err)
			}
		}
		pr.limit, pr.log = limit, d.log
		pr.spare = slot == &d.spareLaunching
		pr.launching.Store(true)
		pr.logs = logs
		pr.onStart = func(ss family) {
			s.writePidFile(d.binary, ss, socketDir)
			s.mu.Lock()
			*slot = ss
			s.mu.Unlock()
			// A stop that came before the family was known here killed nothing (launch's stop
			// watcher read an empty one): the process would hang the launch out.
			select {
			case <-d.stop:
				ss.Kill(0)
			default:
			}
		}
		return pr, nil
	}
	defer func() {
		s.mu.Lock()
		*slot = family{}
		s.mu.Unlock()
	}()
	// go-plugin waits a minute for the handshake line by default; both its wait and Init's get
	// LaunchTimeout.
	cc.StartTimeout = s.cfg.LaunchTimeout
	client := goplugin.NewClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.LaunchTimeout)
	defer cancel()
	// A driver stopped during its launch (its last module stopped) does not wait the launch out:
	// go-plugin's handshake wait ends when the process does.
	go func() {
		select {
		case <-d.stop:
			cancel()
			s.mu.Lock()
			launching := *slot
			s.mu.Unlock()
			launching.Kill(0)
		case <-ctx.Done():
		}
	}()
	rpc, err := plugin.Connect(ctx, client)
	if err != nil {
		return nil, s.launchFailed(ctx, d, client, pr, socketDir, limit, err)
	}
	pr.launching.Store(false)
	pctx, pcancel := context.WithCancelCause(context.Background())
	p := &process{gen: gen, pid: pr.pid, binary: d.binary, file: file, started: pr.started, client: client, rpc: rpc, run: pr, fam: pr.fam,
		memLimit: limit, env: extraEnv, ctx: pctx, guard: guard}
	go func() {
		<-pr.exited
		pcancel(ErrProcessExited)
	}()
	return p, nil
}

// checkBinary refuses a binary whose checksum is not the one recorded when it was built.
func (s *Supervisor) checkBinary(binary string) error {
	if s.cfg.SecureConfig == nil {
		return nil
	}
	sc := s.cfg.SecureConfig(binary)
	if sc == nil {
		return nil
	}
	ok, err := sc.Check(binary)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrChecksum, binary, err)
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrChecksum, binary)
	}
	return nil
}

// launchFailed cleans up after a launch whose connection failed with err — the process (pr, nil
// if it never started) and its group killed and reaped, its socket folder and pid file removed —
// and returns the launch's error: what the process said, how it exited, or which part of the
// launch ran out of time (ctx is the launch's).
func (s *Supervisor) launchFailed(ctx context.Context, d *driver, client *goplugin.Client, pr *procRunner, socketDir string, limit int64, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = launchTimeout(client, s.cfg.LaunchTimeout)
	}
	started := pr != nil && pr.pid != 0
	// go-plugin fails the launch the moment the process's stdout closes, a moment before the
	// process is reaped: whether it exited by itself, and how, is what the error says.
	exitedItself := false
	if started {
		if ctx.Err() == nil {
			select {
			case <-pr.exited:
				exitedItself = true
			case <-time.After(exitGrace):
			}
		}
		pr.killAll()
	}
	client.Kill() // it waits for the process to be gone
	// go-plugin's Kill leaves the socket folder when the process never started.
	if err := removeSocketDir(socketDir); err != nil {
		d.log.Warn("cannot remove the driver's socket folder", "error", err)
	}
	if !started {
		return err
	}
	defer pr.group.kill()
	select {
	case <-pr.reaped:
	case <-time.After(terminateTimeout):
		return err // its pid file stays: the next start kills it
	}
	s.removePidFile(d.binary, pr.pid)
	return launchErr(err, pr, exitedItself, limit, func(text string) string { return s.scrub("", text) })
}

// launchTimeout says which part of a launch did not finish within limit: the handshake line
// (the process never printed it: a program that is not a driver, or one stuck before
// plugin.Serve) or Init.
func launchTimeout(client *goplugin.Client, limit time.Duration) error {
	what := "complete go-plugin's handshake"
	if client.NegotiatedVersion() != 0 {
		what = "answer Init after go-plugin's handshake"
	}
	return fmt.Errorf("%w: the driver did not %s within %s", ErrLaunchTimeout, what, limit)
}

// procRunner is a go-plugin runner for a local process in its own process group.
type procRunner struct {
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr io.ReadCloser // the process's own stderr, read by pumpStderr
	logged io.ReadCloser // what pumpStderr passes on, read by go-plugin
	logs   *logLimiter
	log    hclog.Logger
	limit  int64
	group  *driverGroup // nil without cgroups
	// onStartFailed is told why the process could not be started.
	onStartFailed func(error)
	oom           atomic.Bool // the process said it ran out of memory
	// unrecognized: the process wrote something other than go-plugin's handshake on stdout.
	unrecognized atomic.Bool
	launching    atomic.Bool // until launch has connected: Kill leaves the process to launch
	spare        bool        // launched as a spare: its stderr lines during the launch are DEBUG
	tail         stderrTail  // its last stderr lines, for a failed launch's error
	pid          int
	fam          family
	started      time.Time
	exited       chan struct{}      // closed once the process has exited, with status set
	status       syscall.WaitStatus // how it ended
	reaped       chan struct{}      // closed once what it left is gone and it is reaped
	waitErr      error              // set before reaped is closed
	onStart      func(family)
}

func newProcRunner(cmd *exec.Cmd, mark string) (*procRunner, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &procRunner{cmd: cmd, stdout: stdout, stderr: stderr, fam: newFamily(mark), exited: make(chan struct{}), reaped: make(chan struct{})}, nil
}

func (r *procRunner) Start(context.Context) error {
	if err := r.cmd.Start(); err != nil {
		r.group.kill()
		if r.onStartFailed != nil {
			r.onStartFailed(err)
		}
		return err
	}
	r.group.started()
	r.pid = r.cmd.Process.Pid
	r.started = time.Now()
	r.fam.Leader = r.pid
	if _, start, ok := proctree.Info(r.pid); ok {
		r.fam.Start = start
	}
	rlimit := r.limit
	if r.group != nil {
		rlimit = 0 // memory.max of its group limits it, and counts what is resident, not reserved
	}
	for _, err := range []error{limitMemory(r.pid, rlimit), raiseOOMScore(r.pid)} {
		if err != nil {
			r.log.Warn("driver process runs without a limit", "pid", r.pid, "error", err)
		}
	}
	if r.onStart != nil {
		r.onStart(r.fam)
	}
	pr, pw := io.Pipe()
	r.logged = pr
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		r.pumpStderr(r.logs, pw)
	}()
	go r.wait(pumped)
	return nil
}

// wait reaps the process. Its exit is known when the process itself ends, not when its stdout
// and stderr close (as go-plugin's own runner has it): a child that inherited them would hold
// them open, and the crash would go unseen for as long as the child runs. The last lines still
// in the stderr pipe (a panic, the runtime's "out of memory") are read first, within a grace.
//
// What the process started is killed before it is reaped: while the exited process is a zombie
// its pid cannot be reused, so its process group id names only what it started. Finding what it
// started scans /proc (5–15 ms on a small VM), so the exit is told (exited, with the status read
// from the zombie) while that scan runs, and the process is reaped (reaped) after it: a relaunch
// or a spare's takeover does not wait for it.
func (r *procRunner) wait(pumped <-chan struct{}) {
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, r.pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
	left := make(chan struct{})
	go func() {
		defer close(left)
		if procs := r.fam.Alive(); len(procs) > 0 {
			r.log.Warn("killing processes the driver left behind", "pid", r.pid, "processes", procs)
			r.fam.Kill(childGrace)
		}
	}()
	status, known := proctree.ExitStatus(r.pid)
	// A child holding the pipes is killed above, which closes them.
	select {
	case <-pumped:
	case <-time.After(pipeDrainGrace):
	}
	_ = r.stderr.Close()
	_ = r.stdout.Close()
	<-pumped
	if known {
		r.status = status
		close(r.exited)
	}
	<-left
	state, err := r.cmd.Process.Wait()
	if err == nil && !state.Success() {
		err = &exec.ExitError{ProcessState: state}
	}
	r.waitErr = err
	if !known { // a kernel without the zombie's exit code in /proc: told once reaped
		if state != nil {
			r.status = state.Sys().(syscall.WaitStatus)
		} else {
			r.status = unknownStatus
		}
		close(r.exited)
	}
	close(r.reaped)
}

// unknownStatus marks a process whose wait failed: its status is not known.
const unknownStatus = syscall.WaitStatus(1<<32 - 1)

// Wait is called exactly once, by go-plugin, after the process's stdout and stderr closed.
func (r *procRunner) Wait(context.Context) error {
	<-r.reaped
	return r.waitErr
}

// Kill is go-plugin's: it calls it when the handshake fails, a moment before a process that
// failed would have exited by itself. During the launch, launch kills the process itself once it
// has seen how it ends.
func (r *procRunner) Kill(context.Context) error {
	if !r.launching.Load() {
		r.killAll()
	}
	return nil
}

// killAll SIGKILLs the process and what it started, unless it has exited: then wait kills what it
// left (before it reaps it, after which its pid may be another process's).
func (r *procRunner) killAll() {
	select {
	case <-r.exited:
	default:
		r.fam.Kill(0)
	}
}

func (r *procRunner) ID() string {
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

// Diagnose is asked by go-plugin when the process's first stdout line was not a handshake. The
// hint is launchErr's to give, once it knows whether the process failed on its own.
func (r *procRunner) Diagnose(context.Context) string {
	r.unrecognized.Store(true)
	return ""
}
func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.logged }
func (r *procRunner) Name() string          { return r.cmd.Path }
func (r *procRunner) PluginToHost(n, a string) (string, string, error) {
	return n, a, nil
}
func (r *procRunner) HostToPlugin(n, a string) (string, string, error) {
	return n, a, nil
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

// outOfMemory reports whether the process died at its memory limit: it said so (RLIMIT_DATA), or
// the kernel killed a process of its group at memory.max.
func (r *procRunner) outOfMemory() bool { return r.oom.Load() || r.group.oomKills() > 0 }
