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
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the master name the sentinels of StartSentinel watch.
const SentinelMaster = "mymaster"

// Sentinel timings of StartSentinel, short so that a failover takes a few seconds: a primary
// silent for SentinelDownAfter is down, and a failover that stalls is retried after twice
// sentinelFailoverTimeout.
const (
	SentinelDownAfter       = time.Second
	sentinelFailoverTimeout = 3 * time.Second
)

// Sentinel is Redis without a single point of failure, on loopback, owned by one test: a primary,
// one replica of it and three sentinels watching them (quorum 2), each a real process. Cleanup
// kills them all.
type Sentinel struct {
	// URL names the master through the three sentinels, in go-redis's failover form:
	// redis://127.0.0.1:S1/0?master_name=mymaster&addr=127.0.0.1:S2&addr=127.0.0.1:S3
	URL string
	// Servers are the primary and the replica as started (the roles swap on a failover).
	Servers   [2]*Redis
	Sentinels []*SentinelProc
}

// SentinelProc is one `redis-server --sentinel` process.
type SentinelProc struct {
	Addr   string
	dir    string
	cmd    *exec.Cmd
	exited chan error
}

// StartSentinel starts a primary, a replica and three sentinels, and returns once the replica is
// in sync and every sentinel knows the replica and the two other sentinels (so that a failover
// can be agreed). It fails t (never skips) when redis-server is not installed.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	primary := StartRedis(t)
	replica := StartRedis(t)
	replica.ReplicaOf(t, primary.Addr)
	s := &Sentinel{Servers: [2]*Redis{primary, replica}}
	var addrs []string
	for i := range 3 {
		p := startSentinelProc(t, i, primary.Port())
		s.Sentinels = append(s.Sentinels, p)
		addrs = append(addrs, p.Addr)
	}
	s.URL = fmt.Sprintf("redis://%s/0?master_name=%s&addr=%s&addr=%s", addrs[0], SentinelMaster, addrs[1], addrs[2])
	for _, p := range s.Sentinels {
		c := p.Client(t)
		Eventually(t, 30*time.Second, "sentinel "+p.Addr+" to know the replica and the other sentinels", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			m, err := c.Master(ctx, SentinelMaster).Result()
			return err == nil && m["num-slaves"] == "1" && m["num-other-sentinels"] == "2"
		})
	}
	return s
}

// Primary is the address the sentinels name as the primary now.
func (s *Sentinel) Primary(ctx context.Context) (string, error) {
	var lastErr error
	for _, p := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: p.Addr, MaxRetries: -1, DialTimeout: time.Second})
		addr, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result()
		_ = c.Close()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1]), nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("no sentinel names the primary: %w", lastErr)
}

// agreedPrimary is the primary every sentinel names, "" while they differ or one does not answer.
func (s *Sentinel) agreedPrimary(ctx context.Context) string {
	agreed := ""
	for _, p := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: p.Addr, MaxRetries: -1, DialTimeout: time.Second})
		addr, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result()
		_ = c.Close()
		if err != nil || len(addr) != 2 {
			return ""
		}
		if a := net.JoinHostPort(addr[0], addr[1]); agreed == "" {
			agreed = a
		} else if a != agreed {
			return ""
		}
	}
	return agreed
}

// Rejoin brings back a server that was stopped or killed, as a replica of the current primary
// (with the data it had lost, as after a crash of a server without persistence), and waits until
// it is in sync and the sentinels list it again.
func (s *Sentinel) Rejoin(t testing.TB, r *Redis) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Every sentinel must name the same new primary first: rejoined while a failover is still
	// being agreed, the old primary could be named primary again by a sentinel that had not
	// caught up (seen once in make chaos, two promotions two seconds apart).
	var primary string
	Eventually(t, 30*time.Second, "every sentinel to name the same primary, not "+r.Addr, func() bool {
		primary = s.agreedPrimary(ctx)
		return primary != "" && primary != r.Addr
	})
	r.Restart(t)
	r.ReplicaOf(t, primary)
	for _, p := range s.Sentinels {
		c := p.Client(t)
		Eventually(t, 30*time.Second, "sentinel "+p.Addr+" to list "+r.Addr+" as a healthy replica", func() bool {
			reps, err := c.Replicas(ctx, SentinelMaster).Result()
			if err != nil {
				return false
			}
			for _, rep := range reps {
				if rep["name"] == r.Addr && !strings.Contains(rep["flags"], "down") && !strings.Contains(rep["flags"], "disconnected") {
					return true
				}
			}
			return false
		})
	}
}

// Server returns the server (of Servers) listening on addr, nil if none.
func (s *Sentinel) Server(addr string) *Redis {
	for _, r := range s.Servers {
		if r.Addr == addr {
			return r
		}
	}
	return nil
}

// Client is a go-redis failover client of the master, closed when the test ends.
func (s *Sentinel) Client(t testing.TB) *redis.Client {
	t.Helper()
	o, err := redis.ParseFailoverURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewFailoverClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Client is a sentinel client of this sentinel, closed when the test ends.
func (p *SentinelProc) Client(t testing.TB) *redis.SentinelClient {
	t.Helper()
	c := redis.NewSentinelClient(&redis.Options{Addr: p.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func startSentinelProc(t testing.TB, i, primaryPort int) *SentinelProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(redisInstallHint)
	}
	p := &SentinelProc{dir: t.TempDir()}
	t.Cleanup(p.kill)
	var lastErr error
	for range 5 { // a port found free can be taken before the sentinel binds it
		port, err := FreePort()
		if err != nil {
			t.Fatalf("find a free port for sentinel %d: %v", i+1, err)
		}
		p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		// The sentinel rewrites its configuration file as it learns the others: a fresh one each try.
		conf := filepath.Join(p.dir, "sentinel.conf")
		text := fmt.Sprintf(`port %d
bind 127.0.0.1
daemonize no
dir %s
logfile %s
sentinel monitor %s 127.0.0.1 %d 2
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s %d
sentinel parallel-syncs %s 1
`, port, p.dir, filepath.Join(p.dir, "sentinel.log"), SentinelMaster, primaryPort,
			SentinelMaster, SentinelDownAfter.Milliseconds(), SentinelMaster, sentinelFailoverTimeout.Milliseconds(), SentinelMaster)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatalf("sentinel configuration: %v", err)
		}
		if lastErr = p.start(bin, conf); lastErr == nil {
			return p
		}
	}
	t.Fatalf("start sentinel %d: %v", i+1, lastErr)
	return nil
}

func (p *SentinelProc) start(bin, conf string) error {
	cmd, exited, err := launchPinged(exec.Command(bin, conf, "--sentinel"), "sentinel", filepath.Join(p.dir, "sentinel.log"),
		func(ctx context.Context) error {
			c := redis.NewSentinelClient(&redis.Options{Addr: p.Addr, MaxRetries: -1, DialTimeout: time.Second})
			defer func() { _ = c.Close() }()
			return c.Ping(ctx).Err()
		})
	if err != nil {
		return err
	}
	p.cmd, p.exited = cmd, exited
	return nil
}

func (p *SentinelProc) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// Log is the tail of the sentinel's log, for a failing test's message.
func (p *SentinelProc) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "sentinel.log"))
	return tail(b, 4000)
}
