package supervisor

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	pb "github.com/placeos-go/engine/plugin/proto"
)

// Reload results.
const (
	// ReloadLoaded: the file differed from what the process ran; the modules moved to a new
	// process of it.
	ReloadLoaded = "loaded"
	// ReloadUnchanged: the file has the content the process runs (a bit-identical rebuild).
	ReloadUnchanged = "unchanged"
	// ReloadNotRunning: no process of the binary runs here; its next launch reads the file.
	ReloadNotRunning = "not_running"
	// ReloadFailed: the file differs, but no module would start in a process of it: they all
	// keep running the old one (Reload's error says why).
	ReloadFailed = "failed"
)

// Reload is what loading the file at a driver binary's path did.
type Reload struct {
	Result string `json:"result"`
	// Previous is the SHA-256 (hex) of the binary the driver's process ran, SHA256 that of the
	// file at its path.
	Previous string   `json:"previous_sha256,omitempty"`
	SHA256   string   `json:"sha256,omitempty"`
	Moved    []string `json:"moved,omitempty"` // the modules now served by the new process
	// Failed are modules whose start in the new process failed: they keep running the old one.
	Failed []string `json:"failed,omitempty"`
}

// replacedState is what the probe and Reload know of d's binary on disk. Guarded by s.mu.
type replacedState struct {
	seen   os.FileInfo // the file at the path the probe last handed to a reload
	sumGen uint64      // the process generation sum is of
	sum    string      // SHA-256 of what that process runs
}

// binaryReplaced reports whether the file at the binary's path is no longer the file the process
// runs: a new build renamed over it, the safe way to replace a running binary (writing over it
// fails with "text file busy"). The process keeps the old code and the supervisor keys drivers by
// path, so nothing would otherwise tell that the new file is not running. The file the process
// was launched from, still at the path unchanged, is not replaced whatever the process runs: a
// script that execs the driver (or runs it) never shows in /proc/<pid>/exe, which names the
// program it became, and was taken for a file replaced at every probe, each reload moving every
// module to a new process. Else it reads /proc/<pid>/exe, so it reports nothing where there is no
// /proc. It returns the file on disk.
func (p *process) binaryReplaced() (os.FileInfo, bool) {
	onDisk, err := os.Stat(p.binary)
	if err != nil {
		return nil, false
	}
	if p.file != nil && os.SameFile(p.file, onDisk) && p.file.ModTime().Equal(onDisk.ModTime()) {
		return onDisk, false
	}
	running, err := os.Stat(fmt.Sprintf("/proc/%d/exe", p.pid))
	if err != nil {
		return nil, false
	}
	return onDisk, !os.SameFile(running, onDisk)
}

// noticeReplaced is the probe's part: a file at the path that p does not run and that no reload
// has looked at yet is handed to one, in the background (a reload launches a process and moves
// every module, which the probe must not wait for).
func (d *driver) noticeReplaced(p *process) {
	onDisk, replaced := p.binaryReplaced()
	if !replaced {
		return
	}
	s := d.s
	s.mu.Lock()
	seen := d.replaced.seen != nil && os.SameFile(d.replaced.seen, onDisk)
	d.replaced.seen = onDisk
	closed := s.closed
	if !seen && !closed {
		s.wg.Add(1) // the probe's driver goroutine holds the count above zero
	}
	s.mu.Unlock()
	if seen || closed {
		return
	}
	go func() {
		defer s.wg.Done()
		if _, err := s.Reload(context.Background(), d.binary); err != nil && !s.isClosed() {
			d.log.Warn("loading the driver binary replaced on disk failed; modules keep running the old one", "error", err)
		}
	}()
}

// Reload loads the file now at binary's path when a process of binary runs something else: a
// driver rebuilt at the same path (POST /drivers/{id}/recompile), or a prebuilt binary an
// operator replaced. It compares content, not files: a bit-identical rebuild changes nothing.
// A different one is launched in a new process and every module moves to it as Move moves a
// module to a new commit (started there before the old instance stops, calls in flight let
// finish), then the old process ends. Reloads of one binary run one at a time.
func (s *Supervisor) Reload(ctx context.Context, binary string) (Reload, error) {
	unlock, err := s.lockReload(ctx, binary)
	if err != nil {
		return Reload{}, err
	}
	defer unlock()
	s.mu.Lock()
	old := s.drivers[binary]
	var p *process
	if old != nil && old.ready && !s.closed {
		p = old.proc
	}
	s.mu.Unlock()
	if p == nil || p.hasExited() {
		return Reload{Result: ReloadNotRunning}, nil
	}
	running, err := s.runningSum(old, p)
	if err != nil {
		return Reload{}, fmt.Errorf("reload %s: the running binary: %w", binary, err)
	}
	onDisk, err := fileSum(binary)
	if err != nil {
		return Reload{}, fmt.Errorf("reload %s: %w", binary, err)
	}
	r := Reload{Result: ReloadUnchanged, Previous: running, SHA256: onDisk}
	if running == onDisk {
		old.log.Debug("driver binary rebuilt identical to the running one: nothing to load", "pid", p.pid, "sha256", shortSum(onDisk))
		return r, nil
	}

	s.mu.Lock()
	if s.closed || s.drivers[binary] != old {
		s.mu.Unlock()
		return Reload{Result: ReloadNotRunning}, nil // stopped meanwhile
	}
	ids := old.moduleIDs()
	next := s.newDriverLocked(binary)
	release := next.hold()
	releaseOld := old.hold() // not retired by its probe while its modules' calls finish
	s.mu.Unlock()
	defer release()
	old.log.Info("driver binary replaced on disk: loading it in a new process and moving its modules there",
		"pid", p.pid, "from_sha256", shortSum(running), "to_sha256", shortSum(onDisk), "modules", len(ids))

	var errs []error
	r.Moved, r.Failed, errs = s.moveAll(ctx, old, next, ids)
	s.mu.Lock()
	emptied := len(old.modules) == 0
	abandoned := len(next.modules) == 0 && s.drivers[binary] == next && !emptied
	if abandoned {
		s.drivers[binary] = old // the new process took none: the old one stays the driver's
	}
	prevMeta := old.lastMeta
	s.mu.Unlock()
	releaseOld()
	if abandoned {
		// Not left to its probe to retire: Close would not find it, out of s.drivers.
		if err := next.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if emptied {
		// After every move: each waited for its own module's calls, and the process ends them all.
		if err := old.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	r.Result = ReloadLoaded
	if len(r.Moved) == 0 && len(errs) > 0 {
		r.Result = ReloadFailed
	}
	if len(r.Moved) > 0 {
		old.log.Info("driver binary loaded: its modules moved to the new process", "from_sha256", shortSum(running),
			"to_sha256", shortSum(onDisk), "moved", len(r.Moved), "failed", r.Failed)
		s.metadataChanged(ctx, binary, prevMeta, r.Moved)
	}
	if len(errs) > 0 {
		return r, fmt.Errorf("reload %s: %d modules keep running the old binary: %w", binary, len(errs), errors.Join(errs...))
	}
	return r, nil
}

// moveAll moves the modules ids of old to next, Config.Parallel at a time. A module stopped or
// moved meanwhile is neither moved nor failed.
func (s *Supervisor) moveAll(ctx context.Context, old, next *driver, ids []string) (moved, failed []string, errs []error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.cfg.Parallel)
	for _, id := range ids {
		s.mu.Lock()
		m := s.modules[id]
		cfg := m.cfgIf(old)
		s.mu.Unlock()
		if cfg == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := s.moveTo(ctx, next, m, cfg, true)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				moved = append(moved, id)
			case !errors.Is(err, ErrModuleNotRunning):
				failed = append(failed, id)
				errs = append(errs, s.scrubErr(id, err))
			}
		})
	}
	wg.Wait()
	sort.Strings(moved)
	sort.Strings(failed)
	return moved, failed, errs
}

// cfgIf is m's configuration when m is an instance of driver d, else nil. Caller holds s.mu.
func (m *module) cfgIf(d *driver) *pb.Module {
	if m == nil || m.d != d {
		return nil
	}
	return m.cfg
}

// scrubErr is err with the module's secrets hidden (Config.Scrub).
func (s *Supervisor) scrubErr(moduleID string, err error) error {
	return fmt.Errorf("%s: %s", moduleID, s.scrub(moduleID, err.Error()))
}

// metadataChanged tells Config.OnMetadata of the new process's metadata when it differs from
// the old process's: the moved modules' functions must be the ones they now have.
func (s *Supervisor) metadataChanged(ctx context.Context, binary string, prev []byte, moved []string) {
	if s.cfg.OnMetadata == nil {
		return
	}
	meta, err := s.Metadata(ctx, binary)
	if err != nil {
		s.log.Warn("reading the metadata of the reloaded driver failed", "driver", binary, "error", err)
		return
	}
	if string(meta) != string(prev) {
		s.cfg.OnMetadata(ctx, binary, moved, meta)
	}
}

// lockReload waits for binary's reload in flight, if any, and makes this one its binary's; the
// returned function ends it.
func (s *Supervisor) lockReload(ctx context.Context, binary string) (func(), error) {
	for {
		s.mu.Lock()
		busy := s.reloads[binary]
		if busy == nil {
			mine := make(chan struct{})
			s.reloads[binary] = mine
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.reloads, binary)
				s.mu.Unlock()
				close(mine)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, fmt.Errorf("reload %s: waiting for the reload in flight: %w", binary, ctx.Err())
		}
	}
}

// RunningSHA256 is the SHA-256 (hex) of the binary the process of binary runs: not the file at
// the path, which may have been replaced since. false when no process of it runs.
func (s *Supervisor) RunningSHA256(binary string) (string, bool) {
	d, p := s.procOf(binary)
	if p == nil {
		return "", false
	}
	sum, err := s.runningSum(d, p)
	return sum, err == nil
}

// runningSum is the SHA-256 of what p runs (/proc/<pid>/exe, readable even once the file was
// replaced), kept for the life of the process: it cannot change, and a driver is tens of MB.
func (s *Supervisor) runningSum(d *driver, p *process) (string, error) {
	s.mu.Lock()
	if d.replaced.sumGen == p.gen {
		sum := d.replaced.sum
		s.mu.Unlock()
		return sum, nil
	}
	s.mu.Unlock()
	sum, err := fileSum(fmt.Sprintf("/proc/%d/exe", p.pid))
	if err == nil && p.hasExited() {
		err = fmt.Errorf("%w: pid %d", ErrProcessExited, p.pid) // the pid may name another process now
	}
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	d.replaced.sumGen, d.replaced.sum = p.gen, sum
	s.mu.Unlock()
	return sum, nil
}

// fileSum is the SHA-256 of the file at path, in hex.
func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// shortSum is a SHA-256's first 12 hex digits, for log lines.
func shortSum(sum string) string { return sum[:min(12, len(sum))] }

// allDriversLocked is every driver with a process or a module: those of s.drivers, and one a
// reload left its failed modules on. Caller holds s.mu.
func (s *Supervisor) allDriversLocked() []*driver {
	out := make([]*driver, 0, len(s.drivers))
	seen := map[*driver]bool{}
	for _, d := range s.drivers {
		seen[d] = true
		out = append(out, d)
	}
	for _, m := range s.modules {
		if !seen[m.d] {
			seen[m.d] = true
			out = append(out, m.d)
		}
	}
	return out
}

// isClosed reports whether Close was called: a reload it cut short is no failure to report.
func (s *Supervisor) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
