package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/placeos-go/engine/internal/proctree"
)

func (s *Supervisor) pidFile(pid int) string {
	return filepath.Join(s.cfg.RunDir, strconv.Itoa(pid)+".pid")
}

// writePidFile records a process the moment it started, before its handshake (an engine killed
// during one would otherwise leave the process unrecorded): its binary, then the mark and start
// time of its family, which the next start needs to find what the process started
// (family.Members), then go-plugin's socket folder, which the next start removes, then this
// engine's pid and start time (proctree.EngineRecord). The binary is recorded absolute and
// resolved, as /proc/<pid>/exe shows it: a relative --driver-dir means nothing to a start from
// another working directory.
func (s *Supervisor) writePidFile(binary string, fam family, socketDir string) {
	if s.cfg.RunDir == "" {
		return
	}
	// Private to the engine's user: it says what runs, and no one else should edit what the
	// next start will kill.
	content := fmt.Sprintf("%s\n%s\n%d\n%s\n%s\n", absPath(binary), fam.Mark, fam.Start, socketDir, s.engine)
	if err := os.WriteFile(s.pidFile(fam.Leader), []byte(content), 0o600); err != nil {
		s.log.Warn("cannot write pid file; the process would not be cleaned up after an engine crash",
			"driver", binary, "pid", fam.Leader, "error", err)
	}
}

func (s *Supervisor) removePidFile(binary string, pid int) {
	if s.cfg.RunDir == "" {
		return
	}
	if err := os.Remove(s.pidFile(pid)); err != nil && !os.IsNotExist(err) {
		s.log.Warn("cannot remove pid file", "driver", binary, "pid", pid, "error", err)
	}
}

// killOrphans stops driver processes recorded in RunDir by an engine that did not stop them
// (killed, or crashed), and everything they started, and removes their socket folders. A pid
// file whose pid now belongs to another program only has the processes carrying the recorded
// mark killed: pids are reused, and killing a stranger would be far worse than leaving a driver
// running. Nothing a pid file names is touched while the engine that wrote it still runs
// (liveEngine): the pid files are a copy of another node's.
func (s *Supervisor) killOrphans() error {
	if err := os.MkdirAll(s.cfg.RunDir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(s.cfg.RunDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".pid") {
			continue
		}
		path := filepath.Join(s.cfg.RunDir, name)
		pid, err := strconv.Atoi(strings.TrimSuffix(name, ".pid"))
		content, rerr := os.ReadFile(path)
		if err == nil && rerr == nil && pid > 0 && pid != os.Getpid() {
			lines := strings.Split(strings.TrimSpace(string(content)), "\n")
			owned := s.killOrphan(pid, lines)
			// After the kill, so no process of it still listens there; also when the processes
			// were gone already, as the folder outlives them.
			if len(lines) >= 4 && !owned {
				if err := removeSocketDir(lines[3]); err != nil {
					s.log.Warn("left the socket folder a pid file names", "file", path, "error", err)
				}
			}
		}
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			s.log.Warn("cannot remove stale pid file", "file", path, "error", err)
		}
	}
	return nil
}

// killOrphan kills what one pid file (binary, mark, start time, socket folder, engine) names,
// unless the engine that started it still runs (true).
func (s *Supervisor) killOrphan(pid int, lines []string) bool {
	binary := lines[0]
	ss := newFamily("")
	if len(lines) >= 3 {
		ss.Mark = lines[1]
		ss.Start, _ = strconv.ParseUint(lines[2], 10, 64)
	}
	leaderAlive := isLeader(pid, binary, ss)
	// Before anything is killed, whichever way it was found (the leader, its group, the mark).
	if engine := liveEngine(pid, lines, leaderAlive); engine != 0 {
		s.log.Info("left a driver process a pid file names: the engine that started it still runs "+
			"(this data directory is a copy of another node's?)", "driver", binary, "pid", pid, "engine_pid", engine)
		return true
	}
	_, _, exists := proctree.Info(pid)
	if leaderAlive || !exists {
		// The leader still runs the driver, or is gone: then the group id is still the recorded
		// group's as long as any member lives (Linux does not reuse a pid that is a process
		// group id in use).
		ss.Leader = pid
	}
	left := ss.Alive()
	if leaderAlive && !slices.Contains(left, pid) {
		left = append(left, pid) // a pid file of an engine that ran drivers in process groups only
	}
	if len(left) == 0 {
		return false
	}
	if leaderAlive {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	ss.Kill(childGrace)
	s.log.Warn("killed driver process left by a previous engine", "driver", binary, "pid", pid, "processes", left)
	return false
}

// liveEngine is the pid of the engine a pid file records when it still runs and is not this
// process (proctree.LiveEngine), else 0. A pid file of an engine that did not record itself
// (fewer than five lines) only has the leader's parent to go by (proctree.RunningEngine), and
// that only while the leader runs.
func liveEngine(pid int, lines []string, leaderAlive bool) int {
	if len(lines) >= 5 {
		return proctree.LiveEngine(lines[4])
	}
	if leaderAlive {
		return proctree.RunningEngine(pid, "")
	}
	return 0
}

// isLeader reports whether process pid is the driver process a pid file records: it started at
// the recorded time (when there is one: a reused pid started later) and runs the recorded binary
// or carries the recorded mark.
func isLeader(pid int, binary string, ss family) bool {
	if ss.Start != 0 {
		if _, start, ok := proctree.Info(pid); !ok || start != ss.Start {
			return false
		}
	}
	return runsBinary(pid, binary) || ss.Carries(pid)
}

// runsBinary reports whether process pid executes binary (also when the file was replaced
// since, which the kernel marks " (deleted)"). A relative binary, as an engine before absolute
// records wrote it, is tried from the process's working directory, which it has from the
// engine that started it, and from this process's.
func runsBinary(pid int, binary string) bool {
	proc := "/proc/" + strconv.Itoa(pid)
	exe, err := os.Readlink(proc + "/exe")
	if err != nil {
		return false
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	candidates := []string{binary}
	if !filepath.IsAbs(binary) {
		if cwd, err := os.Readlink(proc + "/cwd"); err == nil {
			candidates = append(candidates, filepath.Join(cwd, binary))
		}
	}
	for _, c := range candidates {
		if exe == absPath(c) {
			return true
		}
	}
	return false
}

// absPath is path absolute and with its links resolved, as /proc/<pid>/exe names a binary; as
// far as it goes when it cannot be (a removed file).
func absPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		return resolved
	}
	return abs
}
