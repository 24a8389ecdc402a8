package chaos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// Targets: how long modules may take to answer again after each kind of fault. They follow the
// engine's own timings (relaunch without backoff, Info probe every 5 s with a 3 s timeout, a
// follower marked down after 2 s of failed heartbeats) with room for a busy two-core machine.
const (
	targetDriverKill = 10 * time.Second
	targetHung       = 15 * time.Second
	targetNodeLoss   = 15 * time.Second
	targetReturn     = 20 * time.Second
	targetRedis      = 10 * time.Second
	// A failover takes the sentinels' down-after period (1 s in the suite) and an election.
	targetRedisFailover = 15 * time.Second
	targetBindings      = 15 * time.Second
	isolateFor          = 5 * time.Second
	diskFullFor         = 4 * time.Second
)

// fault is one fault: apply injects it, waits for the engine to recover and records phases.
type fault struct {
	name  string
	apply func(s *suite, r *result)
}

// driverKills kills the test driver on n through the chaos route `times` times, each time
// waiting until it is relaunched and its modules answer.
func driverKills(pick func(*suite) *node, times int) fault {
	return fault{name: fmt.Sprintf("test driver SIGKILL x%d (POST chaos/terminate)", times), apply: func(s *suite, r *result) {
		c := s.c
		n := pick(s)
		r.note("node: %s", n.ID)
		for i := 1; i <= times; i++ {
			old, err := driverPID(n, c.testDrv)
			if err != nil || old == 0 {
				r.fail("kill %d: no test driver pid on %s: %v", i, n.ID, err)
				return
			}
			at := time.Now()
			resp, err := n.Request(s.l.ctx, http.MethodPost, "/api/core/v1/chaos/terminate?path="+c.testDrv, "", 5*time.Second)
			if err != nil || resp.Status != 200 {
				r.fail("kill %d: chaos/terminate on %s: %d %s %v", i, n.ID, resp.Status, trim(resp.Body), err)
				return
			}
			err = c.until(targetDriverKill, "test driver relaunched", func() bool {
				pid, err := driverPID(n, c.testDrv)
				return err == nil && pid != 0 && pid != old && !testutil.Alive(old)
			})
			took := time.Since(at)
			if err != nil {
				r.fail("kill %d: test driver on %s (pid %d) not relaunched within %s", i, n.ID, old, targetDriverKill)
				return
			}
			c.modulesPhase(r, fmt.Sprintf("kill %d: relaunched in %s, every module answering everywhere", i, ms(took)), at, targetDriverKill)
		}
	}}
}

// displayKill kills the display driver by pid, as an OOM killer or an operator would.
var displayKill = fault{name: "display driver SIGKILL (kill by pid)", apply: func(s *suite, r *result) {
	c := s.c
	n, err := c.hostOf(c.display)
	if err != nil {
		r.fail("%v", err)
		return
	}
	old, err := driverPID(n, c.display)
	if err != nil || old == 0 {
		r.fail("no display driver pid on %s: %v", n.ID, err)
		return
	}
	r.note("node: %s, pid %d", n.ID, old)
	at := time.Now()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		r.fail("kill %d: %v", old, err)
		return
	}
	err = c.until(targetDriverKill, "display driver relaunched", func() bool {
		pid, err := driverPID(n, c.display)
		return err == nil && pid != 0 && pid != old
	})
	r.phase("display driver relaunched", time.Since(at), targetDriverKill, err)
}}

// hungDriver stops a test driver process with SIGSTOP: it keeps its sockets but answers
// nothing, which only the supervisor's Info probe can notice.
func hungDriver(pick func(*suite) *node) fault {
	return fault{name: "hung test driver (SIGSTOP; the Info probe must kill and relaunch it)", apply: func(s *suite, r *result) {
		c := s.c
		n := pick(s)
		old, err := driverPID(n, c.testDrv)
		if err != nil || old == 0 {
			r.fail("no test driver pid on %s: %v", n.ID, err)
			return
		}
		r.note("node: %s, pid %d", n.ID, old)
		// Should the probe never fire, the stopped process must still not outlive the suite.
		s.t.Cleanup(func() { killIfOurs(c, old) })
		at := time.Now()
		if err := syscall.Kill(old, syscall.SIGSTOP); err != nil {
			r.fail("SIGSTOP %d: %v", old, err)
			return
		}
		err = c.until(targetHung, "hung driver replaced", func() bool {
			pid, err := driverPID(n, c.testDrv)
			return err == nil && pid != 0 && pid != old && !testutil.Alive(old)
		})
		r.phase("hung driver killed and relaunched", time.Since(at), targetHung, err)
		if err != nil {
			killIfOurs(c, old)
			return
		}
		c.modulesPhase(r, "every module answering everywhere", at, targetHung)
	}}
}

// forkingDriverCrash crashes the misbehaving driver whose module started two children (one in
// a session of its own): both must be gone with it, and the relaunched process starts its own.
var forkingDriverCrash = fault{name: "forking driver crash (its children must go with it)", apply: func(s *suite, r *result) {
	c := s.c
	n := c.live()[0]
	children := func() []int {
		resp, err := n.Request(s.l.ctx, http.MethodPost, "/api/engine/v2/modules/"+forkModule+"/exec/children", "[]", 5*time.Second)
		var pids []int
		if err != nil || resp.Status != 200 || json.Unmarshal([]byte(resp.Body), &pids) != nil {
			return nil
		}
		return pids
	}
	old := children()
	if len(old) != 2 {
		r.fail("children of %s: %v", forkModule, old)
		return
	}
	r.note("via %s, children %v", n.ID, old)
	at := time.Now()
	// The call fails: the process exits while it runs.
	_, _ = n.Request(s.l.ctx, http.MethodPost, "/api/engine/v2/modules/"+forkModule+"/exec/crash", "[3]", 5*time.Second)
	err := c.until(targetDriverKill, "the old children gone and new ones running", func() bool {
		for _, pid := range old {
			if testutil.Alive(pid) {
				return false
			}
		}
		pids := children()
		return len(pids) == 2 && !slices.Contains(old, pids[0])
	})
	r.phase("children gone, driver relaunched with new ones", time.Since(at), targetDriverKill, err)
}}

// killIfOurs SIGKILLs pid only if it still is one of this run's driver processes.
func killIfOurs(c *cluster, pid int) {
	for _, p := range c.driverProcs() {
		if p.pid == pid {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// nodeKill SIGKILLs the leader or a follower, waits for the survivors to take over its modules,
// then starts it again from its data directory.
func nodeKill(leader bool) fault {
	name := "follower kill and return"
	if leader {
		name = "leader kill and return"
	}
	return fault{name: name, apply: func(s *suite, r *result) {
		c := s.c
		victim := s.pickNode(leader)
		r.note("node: %s", victim.ID)
		at := time.Now()
		c.kill(victim)
		if leader {
			var newLeader string
			err := c.until(targetNodeLoss, "new leader", func() bool {
				for _, n := range c.live() {
					if ci, err := n.Info(); err == nil && ci.Leader != "" && ci.Leader != victim.ID {
						newLeader = ci.Leader
						return true
					}
				}
				return false
			})
			r.phase("new leader "+newLeader+" elected", time.Since(at), targetNodeLoss, err)
		}
		c.waitHealthy(2)
		c.modulesPhase(r, "survivors ready, every module answering through both", at, targetNodeLoss)
		ret := time.Now()
		c.restart(victim)
		c.waitHealthy(3)
		c.modulesPhase(r, victim.ID+" back, every module answering through all 3", ret, targetReturn)
	}}
}

// redisRestart replaces Redis (under Sentinel: the primary) with a fresh, empty server on the same
// port. Its nodes write every status back.
var redisRestart = fault{name: "Redis restart (empty, same port)", apply: func(s *suite, r *result) {
	c := s.c
	before, err := c.settledStatuses()
	if err != nil {
		r.fail("statuses before the fault: %v", err)
		return
	}
	primary, err := c.redisPrimary()
	if err != nil {
		r.fail("%v", err)
		return
	}
	at := time.Now()
	primary.Restart(s.t)
	r.note("redis down and back in %s", ms(time.Since(at)))
	c.modulesPhase(r, "every module answering everywhere (system lookups rebuilt)", at, targetRedis)
	c.statusesPhase(r, before, at, targetRedis)
}}

// redisFailover SIGKILLs the Redis primary: the sentinels promote the replica and the nodes follow
// it. The old primary then comes back (empty) and the sentinels make it the new primary's
// replica, ready for the next round.
var redisFailover = fault{name: "Redis primary SIGKILL (Sentinel promotes the replica)", apply: func(s *suite, r *result) {
	c := s.c
	if c.sentinel == nil {
		r.note("NOT APPLIED: this run's Redis has no Sentinel")
		return
	}
	before, err := c.settledStatuses()
	if err != nil {
		r.fail("statuses before the fault: %v", err)
		return
	}
	old, err := c.redisPrimary()
	if err != nil {
		r.fail("%v", err)
		return
	}
	r.note("primary: %s", old.Addr)
	at := time.Now()
	old.Kill()
	err = c.until(targetRedisFailover, "the sentinels to promote the replica", func() bool {
		p, err := c.redisPrimary()
		return err == nil && p != old
	})
	r.phase("replica promoted", time.Since(at), targetRedisFailover, err)
	if err != nil {
		return
	}
	c.modulesPhase(r, "every module answering everywhere through the promoted replica", at, targetRedisFailover)
	c.statusesPhase(r, before, at, targetRedisFailover)

	// The old primary returns, empty, as the new one's replica (set up as an operator would;
	// the sentinels take up to twenty seconds to convert a returning primary themselves), so the next
	// round again has a replica to promote.
	back := time.Now()
	c.sentinel.Rejoin(s.t, old)
	r.note("old primary back as the new primary's replica, in sync and listed by the sentinels, in %s", ms(time.Since(back)))
}}

// statusesPhase waits until every module's status in Redis is what it was before a Redis fault:
// no status lost, all of it written back by the nodes hosting the modules.
func (c *cluster) statusesPhase(r *result, before map[string]string, since time.Time, target time.Duration) {
	var after map[string]string
	err := c.until(time.Until(since.Add(target)), "every status back in Redis", func() bool {
		var err error
		after, err = c.statuses()
		return err == nil && maps.Equal(after, before)
	})
	if err != nil {
		var lost []string
		for k, v := range before {
			if after[k] != v {
				lost = append(lost, fmt.Sprintf("%s = %s (now %q)", k, v, after[k]))
			}
		}
		slices.Sort(lost)
		err = fmt.Errorf("%d of %d status values not back, e.g. %v", len(lost), len(before), head(lost, 5))
	}
	r.phase(fmt.Sprintf("every status back in Redis (%d values, written back by their nodes)", len(before)), time.Since(since), target, err)
}

// isolate freezes one node's engine process for isolateFor (see the package doc for why this
// stands in for a network partition) and resumes it.
func isolate(leader bool) fault {
	role := "a follower"
	if leader {
		role = "the leader"
	}
	return fault{name: fmt.Sprintf("%s isolated %s (SIGSTOP/SIGCONT of its engine)", role, isolateFor), apply: func(s *suite, r *result) {
		c := s.c
		victim := s.pickNode(leader)
		r.note("node: %s", victim.ID)
		at := time.Now()
		c.freeze(victim)
		// Still frozen if the suite fails from here on: the cleanup resumes it before SIGTERM.
		var markedDown time.Duration
		if err := c.until(isolateFor, victim.ID+" marked down", func() bool {
			for _, n := range c.live() {
				if ci, err := n.Info(); err == nil && ci.Leader != victim.ID && ci.State(victim.ID) == "down" {
					markedDown = time.Since(at)
					return true
				}
			}
			return false
		}); err != nil {
			r.note("not marked down within %s", isolateFor)
		} else {
			r.note("marked down by the others after %s", ms(markedDown))
		}
		if wait := time.Until(at.Add(isolateFor)); wait > 0 {
			time.Sleep(wait) // the fault's duration, not a synchronisation
		}
		ret := time.Now()
		c.thaw(victim)
		c.waitHealthy(3)
		c.modulesPhase(r, victim.ID+" resumed, every module answering through all 3", ret, targetReturn)
	}}
}

// diskFull fills node 3's data directory (a tmpfs) for diskFullFor, then frees it. With leader,
// node-3 is made the leader first: it steps down when its log write fails, and must still take
// every write of the next leader once its disk is freed — its last entries, which the others may
// never have got, conflicting with them.
func diskFull(leader bool) fault {
	name := "node-3's disk full"
	if leader {
		name = "node-3's disk full while it leads"
	}
	return fault{name: name, apply: func(s *suite, r *result) { fillDataDir(s, r, leader) }}
}

func fillDataDir(s *suite, r *result, leader bool) {
	c := s.c
	if c.diskErr != "" {
		r.note("NOT APPLIED: %s", c.diskErr)
		return
	}
	n := c.nodes[2]
	if leader {
		elections, err := c.makeLeader(n)
		if err != nil {
			r.fail("%v", err)
			return
		}
		if elections > 0 {
			r.note("node-3 made the leader in %d election(s), the leader of the moment frozen for each", elections)
		}
	}
	if l := c.leader(); l == n {
		r.note("node-3 is the leader")
	}
	filler := filepath.Join(n.DataDir, "chaos-filler")
	size, err := fill(filler)
	if err != nil {
		r.fail("fill %s: %v", n.DataDir, err)
		return
	}
	r.note("filled with %d MiB", size>>20)
	before := len(s.l.ackedZones())
	at := time.Now()
	time.Sleep(diskFullFor) // the fault's duration, not a synchronisation
	r.note("writes acknowledged while full: %d", len(s.l.ackedZones())-before)
	if ci, err := n.Info(); err == nil {
		r.note("node-3 while full: sees leader %q, itself %s", ci.Leader, ci.State(n.ID))
	} else {
		r.note("node-3 while full: cluster info unreadable: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		r.fail("free %s: %v", filler, err)
	}
	ret := time.Now()
	if !n.Running() {
		r.fail("node-3 exited while its disk was full\n%s", n.Logs().Tail(3000))
		c.restart(n)
	}
	r.note("disk-space errors in node-3's log: %d", strings.Count(n.Logs().Tail(1<<20), "no space left"))
	c.waitHealthy(3)
	missing := c.missingWrites(s.l.ackedZones(), 15*time.Second)
	if len(missing[n.ID]) > 0 {
		r.fail("node-3 did not catch up after the disk was freed: %d acknowledged zones missing", len(missing[n.ID]))
	} else {
		r.note("node-3 caught up %s after the disk was freed (%s after it filled)", ms(time.Since(ret)), ms(time.Since(at)))
	}
}

// makeLeader makes n the leader: the engine has no route that hands leadership over, so the
// leader of the moment is frozen until another is elected and resumed at once (well before the
// others would mark it down), until the election falls on n. It returns how many elections that
// took.
func (c *cluster) makeLeader(n *node) (int, error) {
	c.t.Helper()
	const tries = 8
	for i := range tries {
		l := c.leader()
		if l == n {
			return i, nil
		}
		c.freeze(l)
		err := c.until(targetNodeLoss, "a leader other than "+l.ID, func() bool {
			ci, err := n.Info()
			return err == nil && ci.Leader != "" && ci.Leader != l.ID
		})
		c.thaw(l)
		c.waitHealthy(3)
		if err != nil {
			return i, fmt.Errorf("make %s the leader: %w", n.ID, err)
		}
	}
	if c.leader() != n {
		return tries, fmt.Errorf("make %s the leader: not elected in %d elections", n.ID, tries)
	}
	return tries, nil
}

// fill writes path until the file system is full and returns how much it wrote.
func fill(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	for _, chunk := range []int{1 << 20, 4 << 10, 512} {
		buf := bytes.Repeat([]byte{0xcc}, chunk)
		for {
			k, err := f.Write(buf)
			total += int64(k)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}
