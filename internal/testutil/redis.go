package testutil

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisInstallHint is the message a test fails with when redis-server is missing: the tests use
// the real server on purpose, so a missing binary is a broken environment, not a reason to skip.
const redisInstallHint = "redis-server not found: install it with `apt-get install -y redis-server` " +
	"(or run `make test`, which installs it when run as root)"

// Redis is a real redis-server on a loopback port, owned by one test.
type Redis struct {
	Addr string // 127.0.0.1:PORT
	URL  string // redis://127.0.0.1:PORT/0

	bin  string
	dir  string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives the server's exit once
}

// StartRedis starts a redis-server without persistence in a temporary directory and stops it when
// the test ends. It fails t (never skips) when redis-server is not installed.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(redisInstallHint)
	}
	r := &Redis{bin: bin, dir: t.TempDir()}
	// A configuration file, empty but writable: a replica's role (ReplicaOf, or a Sentinel
	// promoting or demoting the server) is saved there with CONFIG REWRITE, so a Restart keeps
	// it, as a real server's would.
	if err := os.WriteFile(filepath.Join(r.dir, "redis.conf"), nil, 0o600); err != nil {
		t.Fatalf("redis-server configuration file: %v", err)
	}
	t.Cleanup(r.stop)

	// A free port found by binding :0 can be taken by someone else before redis-server binds it;
	// a few attempts make that race harmless.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			t.Fatalf("find a free port for redis-server: %v", err)
		}
		r.port = port
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		r.URL = "redis://" + r.Addr + "/0"
		if lastErr = r.start(); lastErr == nil {
			return r
		}
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

// Restart stops the server and starts a fresh one on the same port, so clients see the
// connection drop and must reconnect. Data is lost (there is no persistence), as after a real
// crash of a cache-only Redis.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.stop()
	// The old socket may linger briefly; redis-server sets SO_REUSEADDR, but retry to be safe.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("restart redis-server on %s: %v", r.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server (Restart or the test's cleanup may start/stop it again). Tests use it to
// observe behaviour while Redis is down.
func (r *Redis) Stop() { r.stop() }

// Kill ends the server with SIGKILL, as a crash would: no shutdown, no goodbye to its clients or
// replicas. Restart may start it again.
func (r *Redis) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

// Pause stops the server's process (SIGSTOP) until Resume: it holds its connections but answers
// nothing, and a replica receives nothing from its primary meanwhile.
func (r *Redis) Pause() { r.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (r *Redis) Resume() { r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(sig)
	}
}

// ReplicaOf makes the server a replica of primary (REPLICAOF, saved with CONFIG REWRITE so that
// a Restart keeps the role) and waits until it is in sync.
func (r *Redis) ReplicaOf(t testing.TB, primary string) {
	t.Helper()
	host, port, err := net.SplitHostPort(primary)
	if err != nil {
		t.Fatalf("primary address %q: %v", primary, err)
	}
	c := r.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ReplicaOf(ctx, host, port).Err(); err != nil {
		t.Fatalf("REPLICAOF %s on %s: %v", primary, r.Addr, err)
	}
	if err := c.ConfigRewrite(ctx).Err(); err != nil {
		t.Fatalf("CONFIG REWRITE on %s: %v", r.Addr, err)
	}
	Eventually(t, 20*time.Second, r.Addr+" in sync with "+primary, func() bool {
		info, err := c.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
}

// Port is the server's TCP port.
func (r *Redis) Port() int { return r.port }

// PID is the running server's process id (0 when it is not running), e.g. for its CPU time.
func (r *Redis) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Client returns a go-redis client for the server, closed when the test ends.
func (r *Redis) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	logFile := filepath.Join(r.dir, "redis.log")
	args := []string{filepath.Join(r.dir, "redis.conf"),
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.dir,
		"--logfile", logFile,
		"--daemonize", "no",
	}
	cmd, exited, err := launchPinged(exec.Command(r.bin, args...), "redis-server", logFile, func(ctx context.Context) error {
		c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: time.Second})
		defer func() { _ = c.Close() }()
		return c.Ping(ctx).Err()
	})
	if err != nil {
		return err
	}
	r.cmd, r.exited = cmd, exited
	return nil
}

// launchPinged starts a server process (killed with the test binary if that dies without its
// cleanups) and waits up to 10 s for ping to succeed. It fails at once, with the tail of the
// server's log, when the process exits first.
func launchPinged(cmd *exec.Cmd, what, logFile string, ping func(context.Context) error) (*exec.Cmd, chan error, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("exec %s: %w", what, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ping(ctx)
		cancel()
		if err == nil {
			return cmd, exited, nil
		}
		select {
		case werr := <-exited:
			log, _ := os.ReadFile(logFile)
			return nil, nil, fmt.Errorf("%s exited before answering PING (%v): %s", what, werr, tail(log, 2000))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return nil, nil, fmt.Errorf("%s did not answer PING within 10s", what)
		}
		time.Sleep(20 * time.Millisecond) // between PINGs of a server still starting
	}
}

func (r *Redis) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // a paused server must run to hear the SIGTERM
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
