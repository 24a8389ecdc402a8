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
// engine's pid and start time (proctree.EngineRecord).
func (s *Supervisor) writePidFile(binary string, fam family, socketDir string) {
	if s.cfg.RunDir == "" {
		return
	}
	// Private to the engine's user: it says what runs, and no one else should edit what the
	// next start will kill.
	content := fmt.Sprintf("%s\n%s\n%d\n%s\n%s\n", binary, fam.Mark, fam.Start, socketDir, s.engine)
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
// running. A driver whose engine still runs (proctree.RunningEngine) is left, with its socket
// folder.
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

// killOrphan kills what one pid file (binary, mark, start time) names, unless the process is
// the driver of an engine that still runs (true).
func (s *Supervisor) killOrphan(pid int, lines []string) bool {
	binary := lines[0]
	ss := newFamily("")
	if len(lines) >= 3 {
		ss.Mark = lines[1]
		ss.Start, _ = strconv.ParseUint(lines[2], 10, 64)
	}
	leaderAlive := runsBinary(pid, binary)
	if leaderAlive {
		var record string
		if len(lines) >= 5 {
			record = lines[4]
		}
		if engine := proctree.RunningEngine(pid, record); engine != 0 {
			s.log.Info("left a driver process a pid file names: the engine that started it still runs "+
				"(this data directory is a copy of another node's?)", "driver", binary, "pid", pid, "engine_pid", engine)
			return true
		}
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

// runsBinary reports whether process pid executes binary (also when the file was replaced
// since, which the kernel marks " (deleted)").
func runsBinary(pid int, binary string) bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return false
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if exe == binary {
		return true
	}
	resolved, err := filepath.EvalSymlinks(binary)
	return err == nil && exe == resolved
}
