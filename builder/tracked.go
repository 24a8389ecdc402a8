package builder

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/placeos-go/engine/internal/proctree"
)

// buildMarkEnv marks every process of one go command's tree: the compilers it starts keep it,
// so the next start finds them after the go command itself is gone.
const buildMarkEnv = "ENGINE_BUILD_INSTANCE"

// runDir holds a <pid>.pid file per running go command: its mark, its start time and the
// engine's record (proctree.EngineRecord), for killLeftovers.
func (b *Builder) runDir() string { return filepath.Join(b.buildsDir(), "run") }

// runTracked runs cmd, marked, recorded in runDir while it runs. Its goroutine keeps its thread
// until the go command has exited: Pdeathsig (setProcessGroup) is sent when the thread that
// started the process ends, not the engine, and Go may end an idle thread at any time.
func (b *Builder) runTracked(cmd *exec.Cmd) error {
	fam := proctree.Family{Env: buildMarkEnv, Mark: proctree.NewMark()}
	cmd.Env = append(cmd.Env, fam.Env+"="+fam.Mark)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			done <- err
			return
		}
		fam.Leader = cmd.Process.Pid
		_, fam.Start, _ = proctree.Info(fam.Leader)
		file := filepath.Join(b.runDir(), strconv.Itoa(fam.Leader)+".pid")
		content := fmt.Sprintf("%s\n%d\n%s\n", fam.Mark, fam.Start, b.engine)
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			b.log.Warn("cannot write the build's pid file; were the engine killed, its next start would not find the build",
				"file", file, "error", err)
		}
		err := cmd.Wait()
		if rerr := os.Remove(file); rerr != nil && !os.IsNotExist(rerr) {
			b.log.Warn("cannot remove the build's pid file", "file", file, "error", rerr)
		}
		done <- err
	}()
	return <-done
}

// killLeftovers kills what go commands recorded in runDir left running: an engine killed
// during a build (before Pdeathsig, or a compiler the killed go command had started, which runs
// on). A go command whose engine still runs is left: the data directory is a copy of another
// node's.
func (b *Builder) killLeftovers() {
	entries, _ := os.ReadDir(b.runDir())
	for _, e := range entries {
		file := filepath.Join(b.runDir(), e.Name())
		pid, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".pid"))
		raw, rerr := os.ReadFile(file)
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		if err == nil && rerr == nil && pid > 0 && len(lines) == 3 {
			b.killLeftover(pid, lines)
		}
		if err := os.Remove(file); err != nil {
			b.log.Warn("cannot remove a stale build pid file", "file", file, "error", err)
		}
	}
}

// killLeftover kills the tree of one pid file (mark, start time, engine).
func (b *Builder) killLeftover(pid int, lines []string) {
	fam := proctree.Family{Env: buildMarkEnv, Mark: lines[0]}
	fam.Start, _ = strconv.ParseUint(lines[1], 10, 64)
	// Its group only while pid is the go command or gone: a pid another program has now may
	// lead a group that is none of ours (Linux reuses no pid that is a group id in use).
	if _, _, exists := proctree.Info(pid); !exists || fam.Carries(pid) {
		fam.Leader = pid
	}
	left := fam.Alive()
	if len(left) == 0 {
		return
	}
	// Asked of the record, not of the go command's parent: the go command may have ended while
	// the compiler it started runs on, found by its mark alone.
	if engine := proctree.LiveEngine(lines[2]); engine != 0 {
		b.log.Info("left a build a pid file names: the engine that started it still runs (this data directory is a copy of another node's?)",
			"pid", pid, "engine_pid", engine)
		return
	}
	fam.Kill(0)
	b.log.Warn("killed a build left by a previous engine", "pid", pid, "processes", left)
}
