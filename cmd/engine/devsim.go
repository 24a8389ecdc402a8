package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/placeos-go/engine/model"
)

// simFolder is the folder of a watched driver that holds its simulated device, run by engine
// dev when it is a main package (engine new driver writes one).
const simFolder = "sim"

// devSim is the watched driver's simulated device running as a child process of engine dev.
type devSim struct {
	cmd      *exec.Cmd
	out      *linePrefixer
	done     chan struct{} // closed once the process has exited
	stopping atomic.Bool   // engine dev stops it: its exit is expected
}

// startSim builds the folder's simulator with the builder's folder build, as the driver is
// built, and runs it on the module's address; nil when there is none to run, or it does not
// build or start (the terminal says why, and the driver runs all the same).
func (w *devWatch) startSim(ctx context.Context) *devSim {
	dir := filepath.Join(w.dir, simFolder)
	if !isMainPackage(dir) {
		return nil
	}
	bin, err := w.bld.BuildFolder(ctx, dir)
	if err != nil {
		if ctx.Err() == nil {
			w.printf("watch: the simulator %s/ does not build, so nothing plays the device:\n%s", simFolder, indentLines(compilerLines(err), 4))
		}
		return nil
	}
	var args []string
	addr := simAddr(w.mod)
	if addr != "" {
		args = []string{"--addr", addr}
	}
	s := &devSim{cmd: exec.Command(bin.Path, args...), out: &linePrefixer{w: w.out, prefix: "  sim | "}, done: make(chan struct{})}
	s.cmd.Dir, s.cmd.Stdout, s.cmd.Stderr = dir, s.out, s.out
	s.cmd.SysProcAttr = simProcAttr()
	started := make(chan error, 1)
	go func() {
		// Pdeathsig is sent when the thread that started the child ends, not the process: this
		// goroutine keeps its thread until the simulator has exited.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(s.done)
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		err := s.cmd.Wait()
		s.out.flush()
		if s.stopping.Load() {
			w.log.Info("simulator stopped", "pid", s.cmd.Process.Pid, "exit", s.cmd.ProcessState.String())
		} else {
			hint := "its output above says why"
			if addr != "" {
				hint = fmt.Sprintf("is another program on %s? The module's address is in %s", addr, w.specFile())
			}
			w.printf("watch: the simulator exited (%v), so nothing plays the device; %s\n", err, hint)
		}
	}()
	if err := <-started; err != nil {
		w.printf("watch: the simulator %s/ does not start: %v\n", simFolder, err)
		return nil
	}
	w.log.Info("simulator running", "binary", bin.Path, "pid", s.cmd.Process.Pid, "addr", addr)
	return s
}

// stop ends the simulator (SIGTERM, SIGKILL after 5 s) and waits for it; a nil s has nothing to
// stop.
func (s *devSim) stop() {
	if s == nil {
		return
	}
	s.stopping.Store(true)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		_ = s.cmd.Process.Kill()
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// running reports whether the simulator runs; a nil s does not.
func (s *devSim) running() bool {
	if s == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// simAddr is the address the module reaches its device at (ip and port, or the host of its
// uri), where the simulator is to listen; "" when the module names none.
func simAddr(m model.Module) string {
	if m.IP != "" && m.Port != 0 {
		return net.JoinHostPort(m.IP, strconv.Itoa(m.Port))
	}
	if u, err := url.Parse(m.URI); err == nil && u.Port() != "" {
		return u.Host
	}
	return ""
}

// linePrefixer writes what a child process prints to w a whole line at a time, each line
// prefixed, so that its lines stand apart from engine dev's own in the terminal.
type linePrefixer struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *linePrefixer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		_, _ = fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
}

// flush writes a last line that has no newline.
func (p *linePrefixer) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		_, _ = fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.buf = nil
	}
}
