package enginetest

import (
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/internal/testutil"
)

// Config is what every node made from it shares.
type Config struct {
	Redis    string   // URL of the Redis the engines use
	Command  string   // "serve" when empty; "dev" runs `engine dev` (demo room, simulators)
	LogLevel string   // --log-level; "info" when empty
	Flags    []string // added to every start, e.g. "--log-format", "json" or "--sdk-dir", dir
	Env      []string // added to each engine's environment (drivers inherit ENGINE_DRIVER_*)
	// Client sends the HTTP helpers' requests; http.DefaultClient when nil.
	Client *http.Client
	// Timeout bounds one request of the HTTP helpers; 30 s when zero.
	Timeout time.Duration
	// LogToTest copies every engine's log into the test log when go test runs with -v.
	LogToTest bool
	// APIKey authenticates the harness's own reads (readiness, the cluster view, drivers) on
	// engines started with --auth keys (given in Flags).
	APIKey string
}

// ReadyWithin is how long WaitReady, Restart and Cluster.Start give a node to become ready.
const ReadyWithin = 60 * time.Second

// DevReadyWithin is how long WaitReady gives `engine dev` (Config.Command "dev"): it is ready
// once it has compiled the demo room's drivers, on the CPUs the tests share (36 s on a machine
// half as loaded as CI's, 6-20 s a build; over 60 s in a run of the whole e2e suite).
const DevReadyWithin = 3 * time.Minute

// Node is one engine: what survives its restarts (id, addresses, data directory) and the
// process currently running it. Its methods may be called from several goroutines.
type Node struct {
	ID      string
	HTTP    string // 127.0.0.1:PORT
	Raft    string // 127.0.0.1:PORT; set before the first Start to change it
	DataDir string
	Base    string // http://127.0.0.1:PORT
	// TLSDir holds the cluster's certificates (`engine tls init`); the node starts with its own
	// when set (a Cluster sets it), else its cluster port runs without TLS (on loopback).
	TLSDir string
	// Flags are added to every start of this node, after Config.Flags (its --labels, say).
	Flags []string

	tb  testing.TB
	cfg Config
	bin string
	tmp string // the engine's TMPDIR, where go-plugin makes its drivers' socket folders

	mu     sync.Mutex
	p      *process // the current or last process; nil before the first Start
	wanted bool     // the test started p and has not stopped or killed it
	paused bool
}

// process is one run of a node's engine.
type process struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited and been reaped
	logs    *testutil.LockedBuffer
	drivers []int  // the driver processes it had when it was killed
	tmp     string // its TMPDIR
	// inherited is what was in tmp at its start that it cannot know of: a killed predecessor's
	// leftovers when no pid file names them (its data dir was removed).
	inherited []string
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// NewNode makes a node with fresh loopback addresses and data directory; it does not start it.
func NewNode(tb testing.TB, cfg Config, id string) *Node {
	tb.Helper()
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	addr := testutil.FreeAddr(tb)
	return &Node{ID: id, HTTP: addr, Raft: testutil.FreeAddr(tb), DataDir: tb.TempDir(), Base: "http://" + addr,
		tb: tb, cfg: cfg, bin: testutil.BuildBinary(tb, "./cmd/engine"), tmp: tempDir(tb)}
}

// unrecorded is what the node's temp dir holds that no pid file in its data dir names: with
// none there, all of it.
func (n *Node) unrecorded() []string {
	if pids, _ := filepath.Glob(filepath.Join(n.DataDir, "run", "*.pid")); len(pids) > 0 {
		return nil
	}
	entries, _ := os.ReadDir(n.tmp)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// tempDir is a node's TMPDIR, the same for all its starts (the next start removes what a killed
// one left there). Not in t.TempDir: a unix socket's path must be short, and a test's name may
// be long. It is removed when the test ends, also what a killed engine left in it.
func tempDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "engine-test-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// StartEngine starts a single node bootstrapped with model (YAML) and flags for this start
// only, and waits until it is ready. Its Raft transport listens on an ephemeral port.
func StartEngine(tb testing.TB, cfg Config, id, model string, flags ...string) *Node {
	tb.Helper()
	n := NewNode(tb, cfg, id)
	n.Raft = "127.0.0.1:0"
	n.Start(append([]string{"--bootstrap", "--model", WriteModel(tb, model)}, flags...)...)
	n.WaitReady()
	return n
}

// WriteModel writes a model file for --model and returns its path.
func WriteModel(tb testing.TB, yaml string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "model.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// Start runs the node's engine from its data directory with Config.Flags and extra, the flags
// of this start only (--bootstrap, --model, --join); it does not wait for readiness. The process
// is stopped when the test ends, as Stop does.
func (n *Node) Start(extra ...string) {
	n.tb.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p != nil && !n.p.exited() {
		n.tb.Fatalf("start %s: its engine is running", n.ID)
	}
	command := n.cfg.Command
	if command == "" {
		command = "serve"
	}
	args := []string{command, "--node-id", n.ID, "--http-addr", n.HTTP, "--raft-addr", n.Raft,
		"--redis", n.cfg.Redis, "--data-dir", n.DataDir, "--log-level", n.cfg.LogLevel, "--auth", "none"}
	if n.TLSDir != "" {
		args = append(args, "--tls-ca", clustertls.CAFile(n.TLSDir),
			"--tls-cert", clustertls.CertFile(n.TLSDir, n.ID), "--tls-key", clustertls.KeyFile(n.TLSDir, n.ID))
	}
	args = append(args, slices.Concat(n.cfg.Flags, n.Flags, extra)...)
	cmd := exec.Command(n.bin, args...)
	cmd.Env = append(append(os.Environ(), "TMPDIR="+n.tmp), n.cfg.Env...)
	logs := &testutil.LockedBuffer{}
	var out io.Writer = logs
	if n.cfg.LogToTest && testing.Verbose() {
		out = io.MultiWriter(logs, testLog{n.tb, n.ID})
	}
	cmd.Stdout, cmd.Stderr = out, out
	// If the test binary dies without its cleanups, the engine must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		n.tb.Fatalf("start %s: %v", n.ID, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{}), logs: logs, tmp: n.tmp, inherited: n.unrecorded()}
	go func() {
		_ = cmd.Wait() // the exit status is read from cmd.ProcessState
		close(p.done)
	}()
	n.p, n.wanted, n.paused = p, true, false
	n.tb.Cleanup(func() { n.end(p) })
}

// end is the cleanup of one process: on a failed test it logs the process's log tail, then it
// stops the process if it still runs, and checks that its driver processes are gone.
func (n *Node) end(p *process) {
	if n.tb.Failed() {
		n.tb.Logf("--- %s (pid %d) log tail:\n%s", n.ID, p.cmd.Process.Pid, p.logs.Tail(4000))
	}
	terminate(n.tb, n.ID, p)
	n.mu.Lock()
	drivers := p.drivers
	n.mu.Unlock()
	reap(n.tb, n.ID, drivers)
}

// Stop stops the engine gracefully (SIGTERM, SIGKILL after 20 s; a paused engine is resumed
// first) and fails the test unless every driver process it ran has exited within 10 s.
func (n *Node) Stop() {
	n.tb.Helper()
	p := n.current("stop")
	terminate(n.tb, n.ID, p)
}

// Kill SIGKILLs the engine, as when a machine dies, and returns once it has exited with the
// pids of the driver processes it had. They must exit on their own: a test may wait for that at
// once (testutil.WaitGone); when the test ends, any still running fails it and is killed.
func (n *Node) Kill() (drivers []int) {
	n.tb.Helper()
	p := n.current("kill")
	drivers = testutil.Children(p.cmd.Process.Pid)
	n.mu.Lock()
	p.drivers = drivers
	n.mu.Unlock()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		n.tb.Fatalf("kill %s: %v", n.ID, err)
	}
	<-p.done
	return drivers
}

// Pause stops the engine process (not its drivers) with SIGSTOP: to the others it is as if
// its links were cut. It returns once every thread of the process is stopped (testutil.Freeze):
// kill(2) returns before that. Resume continues it.
func (n *Node) Pause() { n.signal(syscall.SIGSTOP, true) }

// Resume continues an engine Pause stopped (SIGCONT).
func (n *Node) Resume() { n.signal(syscall.SIGCONT, false) }

// Reload sends SIGHUP: the engine reads its certificates and its --api-keys file again.
func (n *Node) Reload() { n.signal(syscall.SIGHUP, false) }

func (n *Node) signal(sig syscall.Signal, paused bool) {
	n.tb.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil || n.p.exited() {
		n.tb.Fatalf("%s %s: its engine is not running", sig, n.ID)
	}
	if sig == syscall.SIGSTOP {
		testutil.Freeze(n.tb, n.p.cmd.Process.Pid)
	} else if err := n.p.cmd.Process.Signal(sig); err != nil {
		n.tb.Fatalf("%s %s: %v", sig, n.ID, err)
	}
	n.paused = paused
}

// Restart stops the engine gracefully if it runs, starts it again from its data directory and
// waits until it is ready. (A node of a cluster that lost its quorum is not ready alone: start
// such nodes with Start and wait for the cluster.)
func (n *Node) Restart() {
	n.tb.Helper()
	if n.Running() {
		n.Stop()
	}
	n.Start()
	n.WaitReady()
}

// WaitReady waits until GET /api/core/v1/ready answers 200, for ReadyWithin (DevReadyWithin for
// engine dev).
func (n *Node) WaitReady() {
	n.tb.Helper()
	within := ReadyWithin
	if n.cfg.Command == "dev" {
		within = DevReadyWithin
	}
	n.Eventually(within, n.ID+" ready", n.Ready)
}

// current is the process a stop or kill acts on; the test no longer wants it to run.
func (n *Node) current(what string) *process {
	n.tb.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		n.tb.Fatalf("%s %s: never started", what, n.ID)
	}
	n.wanted, n.paused = false, false
	return n.p
}

// Running reports whether the engine process runs (paused or not).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.p != nil && !n.p.exited()
}

// ExitCode is the exit status of the engine's last process; -1 while it runs or before it started.
func (n *Node) ExitCode() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil || !n.p.exited() {
		return -1
	}
	return n.p.cmd.ProcessState.ExitCode()
}

// Paused reports whether the engine is stopped by Pause.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused && n.p != nil && !n.p.exited()
}

// PID is the engine's process id, 0 when it does not run.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil || n.p.exited() {
		return 0
	}
	return n.p.cmd.Process.Pid
}

// Logs is the log of the current (or last) process: every start begins a new one.
func (n *Node) Logs() *testutil.LockedBuffer {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		return &testutil.LockedBuffer{}
	}
	return n.p.logs
}

// exitedOnItsOwn describes the process when it exited without the test stopping or killing it.
func (n *Node) exitedOnItsOwn() (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil || !n.wanted || !n.p.exited() {
		return "", false
	}
	return n.p.cmd.ProcessState.String(), true
}

// terminate stops p gracefully (SIGKILL after 20 s) and fails tb unless every driver process it
// ran has exited within 10 s and, once it stopped on SIGTERM, its temp dir holds nothing but
// what it could not know of. A process already gone is left alone.
func terminate(tb testing.TB, name string, p *process) {
	tb.Helper()
	if p.exited() {
		return
	}
	drivers := testutil.Children(p.cmd.Process.Pid)
	// A paused engine handles SIGTERM only once it runs again.
	for _, sig := range []syscall.Signal{syscall.SIGCONT, syscall.SIGTERM} {
		if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			tb.Errorf("%s %s: %v", sig, name, err)
		}
	}
	select {
	case <-p.done:
		entries, err := os.ReadDir(p.tmp)
		var left []string
		for _, e := range entries {
			if !slices.Contains(p.inherited, e.Name()) {
				left = append(left, e.Name())
			}
		}
		if err != nil || len(left) > 0 {
			tb.Errorf("%s stopped by SIGTERM left in its temp dir %s: %v %v", name, p.tmp, left, err)
		}
	case <-time.After(20 * time.Second):
		tb.Errorf("%s (pid %d) did not stop within 20s of SIGTERM", name, p.cmd.Process.Pid)
		if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			tb.Errorf("kill %s: %v", name, err)
		}
		<-p.done
	}
	reap(tb, name, drivers)
}

// reap fails tb unless every pid exits within 10 s, and kills those still running then, so that
// no driver outlives the test.
func reap(tb testing.TB, name string, pids []int) {
	tb.Helper()
	gone := false
	defer func() {
		if gone {
			return
		}
		for _, pid := range pids {
			if testutil.Alive(pid) {
				tb.Logf("killing pid %d, a driver process %s left behind", pid, name)
				_ = syscall.Kill(pid, syscall.SIGKILL) // best effort: the test has failed already
			}
		}
	}()
	testutil.WaitGone(tb, pids...)
	gone = true
}

// testLog copies an engine's log into the test log.
type testLog struct {
	tb   testing.TB
	node string
}

func (w testLog) Write(p []byte) (int, error) {
	w.tb.Logf("%s: %s", w.node, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
