package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"

	"github.com/placeos-go/engine/internal/atomicfile"
	"github.com/placeos-go/engine/model"
)

// Binary is a compiled driver.
type Binary struct {
	Path         string `json:"path"` // absolute
	SHA256       []byte `json:"-"`
	Commit       string `json:"commit"` // full
	RepositoryID string `json:"repository_id"`
	DriverPath   string `json:"driver_path"`
}

// Checksum is the SHA-256 in hex.
func (bin Binary) Checksum() string { return fmt.Sprintf("%x", bin.SHA256) }

// BuildStatus is the last known outcome of building one driver at one commit.
type BuildStatus struct {
	Name         string    `json:"name"` // the binary's file name
	RepositoryID string    `json:"repository_id"`
	Path         string    `json:"path"`
	Commit       string    `json:"commit"`
	State        string    `json:"state"` // building | built | failed
	Binary       string    `json:"binary,omitempty"`
	SHA256       string    `json:"sha256,omitempty"`
	Error        string    `json:"error,omitempty"`
	Output       string    `json:"output,omitempty"` // compiler output of a failed build
	Started      time.Time `json:"started,omitzero"`
	Finished     time.Time `json:"finished,omitzero"`
	Seconds      float64   `json:"seconds,omitempty"`

	err error // returned again while FailureRetry has not passed
}

// Build states.
const (
	BuildBuilding = "building"
	BuildBuilt    = "built"
	BuildFailed   = "failed"
)

// maxOutput bounds the compiler output kept for a failed build (its tail is the useful part).
const maxOutput = 64 << 10

type flight struct {
	done chan struct{}
	bin  Binary
	err  error
}

// BinaryName is the file name of driverPath built at commit on this node's platform:
// <path-slug>_<commit7>_<os>-<arch>, with '/' in the path written as '+' (which model.ValidateDriverPath
// keeps out of paths, so names never collide).
func BinaryName(driverPath, commit string) string {
	slug := strings.ReplaceAll(driverPath, "/", "+")
	if driverPath == "." {
		slug = "root"
	}
	return fmt.Sprintf("%s_%s_%s-%s", slug, short(commit), runtime.GOOS, runtime.GOARCH)
}

// EnsureDriver returns the binary of a repository driver, building it if needed: the commit is
// the driver's, else the repository's pin, else its branch head as of the last fetch.
func (b *Builder) EnsureDriver(ctx context.Context, r model.Repository, d model.Driver) (Binary, error) {
	if err := model.ValidateDriverSource(d); err != nil {
		return Binary{}, err
	}
	commit, err := b.Resolve(ctx, r, d.Commit)
	if err != nil {
		return Binary{}, err
	}
	bin, err := b.Build(ctx, r, d.Path, commit)
	if err == nil && d.ID != "" {
		b.usedBy(bin.Path, d.ID)
	}
	return bin, err
}

// Build returns the binary of driverPath at commit (7 to 40 hex digits), compiling it unless a
// verified binary is already on disk. Calls for the same driver and commit share one build; a
// caller whose ctx ends stops waiting, the build goes on for the others. A recent failure of the
// same commit is returned again without compiling (see Config.FailureRetry).
func (b *Builder) Build(ctx context.Context, r model.Repository, driverPath, commit string) (Binary, error) {
	return b.build(ctx, r, driverPath, commit, false)
}

// Rebuild compiles driverPath at commit even if a binary or a recorded failure exists (the
// recompile route, or a binary that failed its checksum at launch).
func (b *Builder) Rebuild(ctx context.Context, r model.Repository, driverPath, commit string) (Binary, error) {
	return b.build(ctx, r, driverPath, commit, true)
}

func (b *Builder) build(ctx context.Context, r model.Repository, driverPath, commit string, force bool) (Binary, error) {
	if err := model.ValidateRepository(r); err != nil {
		return Binary{}, err
	}
	if err := model.ValidateDriverPath(driverPath); err != nil {
		return Binary{}, err
	}
	if err := model.ValidateCommit(commit); err != nil {
		return Binary{}, err
	}
	if len(commit) < 40 {
		full, err := b.Resolve(ctx, r, commit)
		if err != nil {
			return Binary{}, err
		}
		commit = full
	}
	name := BinaryName(driverPath, commit)

	b.mu.Lock()
	f := b.flights[name]
	if f == nil {
		if b.closed() {
			b.mu.Unlock()
			return Binary{}, ErrClosed
		}
		if bs := b.builds[name]; !force && bs != nil && bs.State == BuildFailed && bs.Commit == commit &&
			time.Since(bs.Finished) < b.cfg.FailureRetry {
			b.mu.Unlock()
			return Binary{}, bs.err
		}
		f = &flight{done: make(chan struct{})}
		b.flights[name] = f
		b.queued++
		b.wg.Add(1)
		go b.fly(f, name, r, driverPath, commit, force)
	}
	b.mu.Unlock()

	select {
	case <-f.done:
		return f.bin, f.err
	case <-ctx.Done():
		return Binary{}, fmt.Errorf("waiting for build of %s: %w", name, ctx.Err())
	}
}

// fly runs one flight under the builder's lifetime, not the first caller's context.
func (b *Builder) fly(f *flight, name string, r model.Repository, driverPath, commit string, force bool) {
	defer b.wg.Done()
	bin, cached, err := Binary{}, false, error(nil)
	if !force {
		bin, err = b.load(name, commit)
		switch {
		case err == nil:
			cached = true
		case errors.Is(err, ErrChecksumMismatch):
			b.log.Warn("binary does not match its checksum, rebuilding", "driver", driverPath, "binary", bin.Path, "error", err)
		}
	}
	var status *BuildStatus
	if cached {
		b.stats.cacheHits.Add(1)
		status = &BuildStatus{State: BuildBuilt}
	} else {
		status = b.compile(name, r, driverPath, commit)
		bin, err = status.binary(), status.err
	}
	if err == nil {
		b.touch(bin.Path)
		status.Binary, status.SHA256 = bin.Path, bin.Checksum()
	}
	status.Name, status.RepositoryID, status.Path, status.Commit = name, r.ID, driverPath, commit

	b.mu.Lock()
	delete(b.flights, name)
	b.settleLocked(name, status)
	f.bin, f.err = bin, err
	b.mu.Unlock()
	close(f.done)
}

// settleLocked records the outcome of a build that held a place in the "compiling i/n" count.
// Caller holds b.mu.
func (b *Builder) settleLocked(name string, status *BuildStatus) {
	if b.queued--; b.queued == 0 {
		b.started = 0
	}
	b.builds[name] = status
}

func (s *BuildStatus) binary() Binary {
	if s.State != BuildBuilt {
		return Binary{}
	}
	var sum []byte
	_, _ = fmt.Sscanf(s.SHA256, "%x", &sum)
	return Binary{Path: s.Binary, SHA256: sum, Commit: s.Commit, RepositoryID: s.RepositoryID, DriverPath: s.Path}
}

// sidecar is written next to every binary; its presence marks the binary as complete.
type sidecar struct {
	RepositoryID string    `json:"repository_id"`
	Path         string    `json:"path"`
	Commit       string    `json:"commit"`
	SHA256       string    `json:"sha256"`
	GoVersion    string    `json:"go_version"`
	BuiltAt      time.Time `json:"built_at"`
	Seconds      float64   `json:"seconds"`
	// Drivers are the ids of the drivers that were handed this binary on this node (usedBy):
	// only those may fall back to it (LastGood). Added in a later version: an older engine
	// ignores the field, and a sidecar it wrote has none, so its binary is no driver's last
	// good build until a driver uses it again.
	Drivers []string `json:"drivers,omitempty"`
}

func (b *Builder) binPath(name string) string { return filepath.Join(b.driversDir(), name) }

func readSidecar(binPath string) (sidecar, error) {
	var sc sidecar
	data, err := os.ReadFile(binPath + ".json")
	if err != nil {
		return sc, err
	}
	if err := json.Unmarshal(data, &sc); err != nil {
		return sc, fmt.Errorf("sidecar %s: %w", binPath+".json", err)
	}
	return sc, nil
}

// load returns the binary already on disk for name, verified against its sidecar.
func (b *Builder) load(name, commit string) (Binary, error) {
	p := b.binPath(name)
	sc, err := readSidecar(p)
	if err != nil {
		return Binary{}, err
	}
	if sc.Commit != commit {
		// Two commits sharing 7 hex digits: treat the other's binary as absent.
		return Binary{}, fmt.Errorf("binary %s belongs to commit %s", name, sc.Commit)
	}
	var sum []byte
	if _, err := fmt.Sscanf(sc.SHA256, "%x", &sum); err != nil || len(sum) != 32 {
		return Binary{}, fmt.Errorf("sidecar of %s: bad sha256", name)
	}
	bin := Binary{Path: p, SHA256: sum, Commit: sc.Commit, RepositoryID: sc.RepositoryID, DriverPath: sc.Path}
	return bin, b.Verify(bin)
}

// touch records a use of a binary (the sidecar's mtime) for Cleanup, across restarts.
func (b *Builder) touch(binPath string) {
	now := time.Now()
	_ = os.Chtimes(binPath+".json", now, now)
}

// maxSidecarDrivers bounds the driver ids one sidecar keeps (the oldest go first): drivers that
// share a path and commit are few, however many were created and deleted over time.
const maxSidecarDrivers = 64

// usedBy records in the binary's sidecar that driver driverID was handed it, across restarts, so
// that LastGood offers it to that driver and to no other. The sidecar is rewritten only the first
// time a driver uses the binary.
func (b *Builder) usedBy(binPath, driverID string) {
	// Under b.mu, as Cleanup removes sidecars: a rewrite must not bring back one it removed, and
	// two drivers recording at once must not lose each other's id.
	b.mu.Lock()
	defer b.mu.Unlock()
	sc, err := readSidecar(binPath)
	if err != nil || slices.Contains(sc.Drivers, driverID) {
		return
	}
	sc.Drivers = append(sc.Drivers, driverID)
	if n := len(sc.Drivers) - maxSidecarDrivers; n > 0 {
		sc.Drivers = slices.Delete(sc.Drivers, 0, n)
	}
	if err := writeSidecar(binPath, sc); err != nil {
		b.log.Warn("cannot record the driver using a binary: it is not that driver's last good build", "binary", binPath,
			"driver", driverID, "error", err)
	}
}

// writeSidecar replaces the sidecar of the binary at binPath whole (atomically: a torn one would
// make the binary untrusted).
func writeSidecar(binPath string, sc sidecar) error {
	data, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(binPath+".json", append(data, '\n'), 0o600)
}

// BuildStatus returns the last outcome of building driverPath at commit (full or 7+ digits).
func (b *Builder) BuildStatus(driverPath, commit string) (BuildStatus, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bs := b.builds[BinaryName(driverPath, commit)]
	if bs == nil || !strings.HasPrefix(bs.Commit, commit) {
		return BuildStatus{}, false
	}
	return *bs, true
}

// export is exportTree under the repository lock, fetching once when the commit is missing.
func (b *Builder) export(ctx context.Context, r model.Repository, driverPath, commit, dst string) error {
	st, err := b.ensureCloned(ctx, r)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		var skipped int
		err := b.withRepo(ctx, st, func(repo *git.Repository) error {
			var err error
			skipped, err = exportTree(ctx, repo, commit, driverPath, dst,
				exportLimits{fileBytes: b.cfg.MaxFileBytes, totalBytes: b.cfg.MaxExportBytes, files: b.cfg.MaxExportFiles})
			return err
		})
		if skipped > 0 {
			b.log.Debug("skipped symlinks and submodules", "repository", r.ID, "commit", short(commit), "count", skipped)
		}
		if err == nil || !errors.Is(err, ErrRevisionNotFound) || attempt > 0 {
			return err
		}
		if _, err := b.sync(ctx, st); err != nil {
			return err
		}
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
	}
}
