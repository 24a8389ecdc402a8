package supervisor

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func (s *Supervisor) pidFile(pid int) string {
	return filepath.Join(s.cfg.RunDir, strconv.Itoa(pid)+".pid")
}

func (s *Supervisor) writePidFile(p *process) {
	if s.cfg.RunDir == "" {
		return
	}
	// Private to the engine's user: it says what runs, and no one else should edit what the
	// next start will kill.
	if err := os.WriteFile(s.pidFile(p.pid), []byte(p.binary+"\n"), 0o600); err != nil {
		s.log.Warn("cannot write pid file; the process would not be cleaned up after an engine crash",
			"driver", p.binary, "pid", p.pid, "error", err)
	}
}

func (s *Supervisor) removePidFile(p *process) {
	if s.cfg.RunDir == "" {
		return
	}
	if err := os.Remove(s.pidFile(p.pid)); err != nil && !os.IsNotExist(err) {
		s.log.Warn("cannot remove pid file", "driver", p.binary, "pid", p.pid, "error", err)
	}
}

// killOrphans stops driver processes recorded in RunDir by an engine that did not stop them
// (killed, or crashed). A pid file whose pid now belongs to another program is only removed: pids
// are reused, and killing a stranger would be far worse than leaving a driver running.
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
			binary := strings.TrimSpace(string(content))
			if runsBinary(pid, binary) {
				killGroup(pid)
				s.log.Warn("killed driver process left by a previous engine", "driver", binary, "pid", pid)
			}
		}
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			s.log.Warn("cannot remove stale pid file", "file", path, "error", err)
		}
	}
	return nil
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
