package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// result is what one fault did to the invariants.
type result struct {
	name string
	// modulesChecked says the fault measured its modules answering itself, so the generic check
	// after it is not repeated (a failing one would only spend its whole budget again).
	modulesChecked bool
	// modulesDown says modules were still not answering when the checks ended.
	modulesDown bool
	lines       []string // phases and notes, printed in order
	broken      []string
}

func (r *result) note(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *result) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.broken = append(r.broken, msg)
	r.lines = append(r.lines, "BROKEN: "+msg)
}

// phase records one step of the recovery: broken when its wait gave up (err), else how long it
// took against its target. The target is the deadline of the step's wait, not a timing the
// suite asserts: a step that made it a little late (the last poll's round trip) is reported so.
func (r *result) phase(what string, took, target time.Duration, err error) {
	switch {
	case err != nil:
		r.fail("%s: %v", what, err)
	case took > target:
		r.note("%s: %s (target %s, reached on the wait's last poll)", what, ms(took), ms(target))
	default:
		r.note("%s: %s (target %s)", what, ms(took), ms(target))
	}
}

func ms(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return d.Round(100 * time.Millisecond).String()
}

// modulesPhase measures modules answering again as one phase of r.
func (c *cluster) modulesPhase(r *result, what string, since time.Time, target time.Duration) {
	took, err := c.modulesBack(since, target)
	r.phase(what, took, target, err)
	r.modulesChecked = true
	r.modulesDown = err != nil
}

// modulesBack waits until every test module answers echo through every live node and returns
// the time since `since`; it gives up at since+target (plus one probe round).
func (c *cluster) modulesBack(since time.Time, target time.Duration) (time.Duration, error) {
	var last string
	pending := map[string]bool{}
	for _, n := range c.live() {
		for k := 1; k <= testModules; k++ {
			pending[fmt.Sprintf("%s Test_%d", n.ID, k)] = true
		}
	}
	err := c.until(time.Until(since.Add(target+2*time.Second)), "every module answering through every live node", func() bool {
		for _, n := range c.live() {
			for k := 1; k <= testModules; k++ {
				key := fmt.Sprintf("%s Test_%d", n.ID, k)
				if !pending[key] {
					continue
				}
				path := fmt.Sprintf("/api/engine/v2/systems/%s/Test_%d/echo?timeout=1000", systemID, k)
				resp, err := n.Request(context.Background(), http.MethodPost, path, fmt.Sprintf("[%d]", k), 2*time.Second)
				if err == nil && resp.Status == 200 {
					delete(pending, key)
					continue
				}
				last = fmt.Sprintf("Test_%d via %s: %d %s %v", k, n.ID, resp.Status, trim(resp.Body), err)
			}
		}
		return len(pending) == 0
	})
	if err != nil {
		return time.Since(since), fmt.Errorf("%d module/node pairs not answering after %s; last: %s", len(pending), ms(time.Since(since)), last)
	}
	return time.Since(since), nil
}

// missingWrites waits up to d for every acknowledged zone to be on every live node and returns,
// per node, the ones still missing.
func (c *cluster) missingWrites(acked []string, d time.Duration) map[string][]string {
	missing := map[string][]string{}
	deadline := time.Now().Add(d)
	for _, n := range c.live() {
		var gone []string
		if err := c.until(time.Until(deadline), "acknowledged writes on "+n.ID, func() bool {
			gone = zonesMissing(n, acked)
			return len(gone) == 0
		}); err != nil {
			missing[n.ID] = gone
		}
	}
	return missing
}

// zonesMissing is the zones of acked that n does not list (or why the list is unreadable).
func zonesMissing(n *node, acked []string) []string {
	// The whole model, not GET /zones: lists are paged (100 by default) and a run acknowledges
	// more zones than that.
	var file struct {
		Zones []struct {
			ID string `json:"id"`
		} `json:"zones"`
	}
	resp, err := n.Request(context.Background(), http.MethodGet, "/api/engine/v2/model", "", 5*time.Second)
	if err == nil && resp.Status == 200 {
		err = json.Unmarshal([]byte(resp.Body), &file)
	}
	zones := file.Zones
	if err != nil || resp.Status != 200 {
		return []string{fmt.Sprintf("(zone list unreadable: %d %v)", resp.Status, err)}
	}
	have := map[string]bool{}
	for _, z := range zones {
		have[z.ID] = true
	}
	var gone []string
	for _, id := range acked {
		if !have[id] {
			gone = append(gone, id)
		}
	}
	return gone
}

// driverProc is a running process of a driver binary started by one of this run's engines.
type driverProc struct {
	pid, ppid int
	exe       string
	state     byte
}

// driverProcs lists this run's driver processes: those whose environment carries the run marker
// (inherited from the engine) and that run one of the driver binaries.
func (c *cluster) driverProcs() []driverProc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	bins := map[string]bool{}
	for _, b := range []string{c.testDrv, c.display, c.bad} {
		if p, err := filepath.EvalSymlinks(b); err == nil {
			b = p
		}
		bins[b] = true
	}
	marker := []byte(runMarker + "=" + c.runID + "\x00")
	var out []driverProc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink("/proc/" + e.Name() + "/exe")
		if err != nil || !bins[strings.TrimSuffix(exe, " (deleted)")] {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, marker) {
			continue
		}
		state, ppid, ok := procStat(pid)
		if !ok || state == 'Z' || state == 'X' {
			continue
		}
		out = append(out, driverProc{pid: pid, ppid: ppid, exe: filepath.Base(exe), state: state})
	}
	return out
}

// procStat reads a process's state and parent from /proc/<pid>/stat (the command name is in
// parentheses and may itself hold spaces or parentheses).
func procStat(pid int) (byte, int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 || len(f[0]) == 0 {
		return 0, 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return f[0][0], ppid, err == nil
}

// orphanProblems describes every driver process of this run that has no live engine of this run
// as its parent, is stopped, or duplicates its driver under one engine. A driver's spare process
// (spare_pid in the node's status, --driver-spare) is no duplicate; while a node does not answer,
// its spares count as duplicates (the check is polled until it passes).
func (c *cluster) orphanProblems() (problems []string, drivers int) {
	engines := map[int]string{}
	spares := map[int]bool{}
	for _, n := range c.nodes {
		if n.Running() {
			engines[n.PID()] = n.ID
			var st struct {
				Drivers []struct {
					SparePID int `json:"spare_pid"`
				} `json:"drivers"`
			}
			if n.GetJSON("/api/core/v1/status", &st) == nil {
				for _, d := range st.Drivers {
					spares[d.SparePID] = d.SparePID != 0
				}
			}
		}
	}
	per := map[string]int{}
	procs := c.driverProcs()
	isDriver := map[int]bool{}
	for _, p := range procs {
		isDriver[p.pid] = true
	}
	for _, p := range procs {
		if isDriver[p.ppid] {
			continue // a child the forking driver started, while the driver runs
		}
		owner, ok := engines[p.ppid]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s pid %d orphaned (parent %d is no engine of this run)", p.exe, p.pid, p.ppid))
		case p.state == 'T' || p.state == 't':
			problems = append(problems, fmt.Sprintf("%s pid %d under %s is still stopped", p.exe, p.pid, owner))
		}
		if !spares[p.pid] {
			per[fmt.Sprintf("%s under %s", p.exe, owner)]++
		}
	}
	for k, v := range per {
		if v > 1 {
			problems = append(problems, fmt.Sprintf("%d processes of %s", v, k))
		}
	}
	slices.Sort(problems)
	return problems, len(procs)
}

// waitNoOrphans gives drivers of a killed engine time to notice and exit.
func (c *cluster) waitNoOrphans(d time.Duration) (problems []string, drivers int) {
	// A timeout is what problems then says.
	_ = c.until(d, "no driver process orphaned, stopped or duplicated", func() bool {
		problems, drivers = c.orphanProblems()
		return len(problems) == 0
	})
	return problems, drivers
}
