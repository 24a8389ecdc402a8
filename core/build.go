package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/supervisor"
)

// ErrBuilding marks a module whose driver is still being fetched or compiled; it starts once
// the binary is ready.
var ErrBuilding = errkind.New(errkind.Unavailable, "driver is being compiled")

// DefaultBuildHoldsReady is Config.BuildHoldsReady's default. A build in flight holds the node's
// readiness (reconcile.go): a compile takes seconds to minutes, and a node that said ready while
// its drivers compile would let a rolling restart move on before its modules run. But a clone
// may take until the builder's GitTimeout (10 minutes, and again at every retry: a slow server,
// or a silent one over SSH or git://; over HTTP(S) 60 s of silence ends it), and one such
// repository must not keep the
// node — and so the cluster's ready — out of readiness that long. Past this, the node reports
// ready without the build; its modules start when it ends.
const DefaultBuildHoldsReady = 2 * time.Minute

// errBuildOverdue marks an ErrBuilding of a build in flight for longer than
// Config.BuildHoldsReady: it no longer holds readiness.
var errBuildOverdue = errors.New("no longer holds the node's readiness")

// buildState is this node's latest attempt to get a repository driver's binary.
type buildState struct {
	key     string // the inputs it was built from; a different key means build again
	running bool
	began   time.Time // when the build started
	overdue bool      // running past Config.BuildHoldsReady, and logged
	binary  string
	err     error
	// After a failure: the last good binary the driver's modules keep running ("" when this node
	// has none), and what failed, for the status routes.
	fallback string
	failure  *BuildFailure
}

// BuildFailure is a repository driver's latest build on this node that failed. Its modules keep
// running the last good build (Running), when this node has one.
type BuildFailure struct {
	DriverID string    `json:"driver_id"`
	Commit   string    `json:"commit,omitempty"`
	Error    string    `json:"error"`
	Output   string    `json:"output,omitempty"` // the compiler's, for a driver that did not compile
	At       time.Time `json:"at"`
	Running  string    `json:"running,omitempty"` // the last good binary, still serving
	// RunningCommit is the commit Running was built from.
	RunningCommit string `json:"running_commit,omitempty"`
}

// lastGoodNote is what a read of a module running the last good build says of it (runtime.go):
// which commit did not build and why, and which one runs instead.
func (f *BuildFailure) lastGoodNote() string {
	what := "driver build"
	if f.Commit != "" {
		what += fmt.Sprintf(" of commit %.7s", f.Commit)
	}
	why := firstComplaint(f.Output)
	if why == "" {
		why = f.Error
	}
	return fmt.Sprintf("%s failed: %s; running the last good build (commit %.7s)", what, why, f.RunningCommit)
}

// buildKey is everything that decides which binary a repository driver needs. gen moves on a
// pull or a recompile, so the branch head is resolved again.
func buildKey(r *model.Repository, d *model.Driver, gen uint64) string {
	return strings.Join([]string{r.URI, r.Branch, r.Commit, d.Path, d.Commit, fmt.Sprint(gen)}, "\x00")
}

// repositoryBinary returns the binary of a repository driver if it is built, else starts (or
// waits for) a build in the background and returns ErrBuilding; the reconciler runs again when
// it ends.
func (c *Core) repositoryBinary(m *model.Model, d *model.Driver) (string, error) {
	if c.cfg.Builder == nil {
		return "", fmt.Errorf("%w: driver %q is built from a repository but this node has no builder", ErrDriverBinary, d.ID)
	}
	repo := m.Repositories[d.RepositoryID]
	if repo == nil {
		return "", fmt.Errorf("%w: driver %q: no repository %q", ErrDriverBinary, d.ID, d.RepositoryID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := buildKey(repo, d, c.buildGen[repo.ID])
	st := c.builds[d.ID]
	switch {
	case st != nil && st.key == key && st.running:
		if took := time.Since(st.began); took > c.cfg.BuildHoldsReady {
			if !st.overdue {
				st.overdue = true
				c.log.Warn("driver build has not finished: this node reports ready without it, and starts its modules when it ends (a git server that does not answer holds a fetch up to 10 minutes)",
					"driver", d.ID, "repository", repo.ID, "path", d.Path, "running_for", took.Round(time.Second))
			}
			return "", fmt.Errorf("%w: %s (for %s; it %w)", ErrBuilding, d.ID, took.Round(time.Second), errBuildOverdue)
		}
		return "", fmt.Errorf("%w: %s", ErrBuilding, d.ID)
	case st != nil && st.key == key && st.err != nil && st.fallback != "":
		return st.fallback, nil // the room keeps working on the last good build
	case st != nil && st.key == key:
		return st.binary, st.err
	}
	next := &buildState{key: key, running: true, began: time.Now()}
	c.builds[d.ID] = next
	r, drv := *repo, *d
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		bin, err := c.cfg.Builder.EnsureDriver(c.runCtx, r, drv)
		var failure *BuildFailure
		if err != nil && c.runCtx.Err() == nil {
			failure = c.buildFailed(r, drv, err)
		}
		c.mu.Lock()
		next.running, next.binary, next.err = false, bin.Path, err
		if failure != nil {
			next.fallback, next.failure = failure.Running, failure
		}
		c.mu.Unlock()
		c.cfg.Metrics.SetBuildFailed(drv.ID, err != nil)
		c.Kick()
	}()
	return "", fmt.Errorf("%w: %s", ErrBuilding, d.ID)
}

// buildFailed records a failed build of a repository driver: it finds the last good binary its
// modules keep running, and says so at ERROR with the commit and the compiler's complaint.
//
// A pin that names no commit of the repository (missing, or a prefix several share) is the
// operator's mistake rather than the code's, but falls back all the same: a driver re-pinned
// from a commit it ran to one that does not resolve keeps running what it ran, as it would a
// commit that does not compile. The fallback is only ever a binary this very driver ran here
// (builder.LastGood by driver id): a driver that shares a repository path with others but never
// ran here has none, and its modules stay stopped with the reason.
func (c *Core) buildFailed(r model.Repository, d model.Driver, err error) *BuildFailure {
	f := &BuildFailure{DriverID: d.ID, Error: err.Error(), At: time.Now()}
	var be *builder.BuildError
	if errors.As(err, &be) {
		f.Commit, f.Output = be.Commit, be.Output
		f.Error, _, _ = strings.Cut(f.Error, "\n") // the output has its own field
	} else {
		f.Commit = cmp.Or(d.Commit, r.Commit) // the pin that did not resolve ("" on a branch head)
	}
	// The compiler's first complaint on the line itself (the whole output follows in the error's
	// continuation lines), so that a grep for the failure shows why.
	first := firstComplaint(f.Output)
	if prev, ok := c.cfg.Builder.LastGood(r, d.Path, d.ID); ok {
		f.Running, f.RunningCommit = prev.Path, prev.Commit
		c.log.Error("driver build failed; its modules keep running the last good build", "driver", d.ID, "path", d.Path,
			"commit", f.Commit, "compiler", first, "running", prev.Path, "running_commit", prev.Commit, "error", err)
		return f
	}
	c.log.Error("driver build failed and this node has no earlier build of it; its modules are not started",
		"driver", d.ID, "path", d.Path, "commit", f.Commit, "compiler", first, "error", err)
	return f
}

// firstComplaint is the first line of compiler output that is not a package header ("# pkg").
func firstComplaint(output string) string {
	for line := range strings.Lines(output) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return line
		}
	}
	return ""
}

// buildFailures lists the drivers whose latest build failed, by driver id.
func (c *Core) buildFailures() map[string]*BuildFailure {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]*BuildFailure{}
	for id, st := range c.builds {
		if st.failure != nil && !st.running {
			out[id] = st.failure
		}
	}
	return out
}

// Kick makes the reconciler run a pass soon.
func (c *Core) Kick() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Pull fetches a repository now and rebuilds the drivers of it that follow its branch; their
// modules move to the new binaries without a gap. In a cluster it acts on this node only: pin
// commits in the model to roll a new version out to every node.
func (c *Core) Pull(ctx context.Context, repoID string) (any, error) {
	if c.cfg.Builder == nil {
		return nil, ErrNoBuilder
	}
	m, _ := c.cfg.Store.Model()
	repo := m.Repositories[repoID]
	if repo == nil {
		return nil, fmt.Errorf("repository %q: %w", repoID, model.ErrNotFound)
	}
	st, err := c.cfg.Builder.Sync(ctx, *repo)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.buildGen[repoID]++
	c.mu.Unlock()
	c.Kick()
	return st, nil
}

// Recompiled is a recompile's answer: the binary built, and what became of the process running
// the binary at that path on this node.
type Recompiled struct {
	builder.Binary
	SHA256 string `json:"sha256"`
	// Load is supervisor.ReloadLoaded (the rebuild differs and the modules now run it),
	// ReloadUnchanged (bit-identical to the running binary: nothing to do), ReloadNotRunning
	// (no process runs that path here: the modules that need it start or move to it) or
	// ReloadFailed (it differs and no module would start in it: LoadError says why).
	Load           string   `json:"load"`
	PreviousSHA256 string   `json:"previous_sha256,omitempty"` // what the process ran before
	Moved          []string `json:"moved,omitempty"`
	// Failed are modules the new binary did not start: they keep running the old one, and
	// LoadError says why.
	Failed    []string `json:"failed,omitempty"`
	LoadError string   `json:"load_error,omitempty"`
}

// Recompile builds a driver's current commit again, even if a binary or a failure is recorded.
// The rebuild replaces the binary at the same path; when it differs from what the driver's
// process runs, the modules move to a new process of it with no gap (supervisor.Reload).
func (c *Core) Recompile(ctx context.Context, driverID string) (any, error) {
	if c.cfg.Builder == nil {
		return nil, ErrNoBuilder
	}
	m, _ := c.cfg.Store.Model()
	d := m.Drivers[driverID]
	if d == nil {
		return nil, fmt.Errorf("driver %q: %w", driverID, model.ErrNotFound)
	}
	repo := m.Repositories[d.RepositoryID]
	if repo == nil {
		return nil, errkind.Wrap(errkind.BadRequest, nil, "driver %q is a prebuilt binary, not built from a repository", driverID)
	}
	ref := d.Commit
	commit, err := c.cfg.Builder.Resolve(ctx, *repo, ref)
	if err != nil {
		return nil, err
	}
	// What runs now, read before the rebuild replaces the file: the probe may load the new one
	// before Reload below looks.
	c.mu.Lock()
	var built string
	if st := c.builds[d.ID]; st != nil {
		built = st.binary
	}
	c.mu.Unlock()
	prev, _ := c.sup.RunningSHA256(built)
	bin, err := c.cfg.Builder.Rebuild(ctx, *repo, d.Path, commit)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.buildGen[repo.ID]++
	c.mu.Unlock()
	c.Kick()
	// Not the request's context: a client that gives up must not leave the modules half moved.
	r, err := c.sup.Reload(context.WithoutCancel(ctx), bin.Path)
	out := Recompiled{Binary: bin, SHA256: bin.Checksum(), Load: r.Result, PreviousSHA256: r.Previous, Moved: r.Moved, Failed: r.Failed}
	if err != nil {
		c.log.Warn("recompiled driver: some modules keep running the old binary", "driver", driverID, "error", err)
		out.LoadError = err.Error()
	}
	if r.Result == supervisor.ReloadUnchanged && built == bin.Path && prev != "" && prev != out.SHA256 {
		// The probe saw the new file first and loaded it (supervisor, replaced.go).
		out.Load, out.PreviousSHA256 = supervisor.ReloadLoaded, prev
	}
	return out, nil
}

// neededRepositories lists the repositories of the drivers this node runs: each node clones and
// builds only what its own modules need.
func (c *Core) neededRepositories(m *model.Model, v *view) []model.Repository {
	seen := map[string]bool{}
	var out []model.Repository
	for id, mod := range m.Modules {
		d := m.Drivers[mod.DriverID]
		if !mod.Running || d == nil || d.RepositoryID == "" || seen[d.RepositoryID] || !c.owns(v, id) {
			continue
		}
		if r := m.Repositories[d.RepositoryID]; r != nil {
			seen[r.ID] = true
			out = append(out, *r)
		}
	}
	return out
}

// cleanupBinaries removes built binaries that no module on this node has used for
// Config.KeepBinaries (the previous commit of an upgraded driver, say).
func (c *Core) cleanupBinaries() {
	if c.cfg.Builder == nil || c.cfg.KeepBinaries <= 0 {
		return
	}
	removed, err := c.cfg.Builder.Cleanup(c.cfg.KeepBinaries, func(p string) bool {
		if _, ok := c.sup.DriverStatus(p); ok {
			return true
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, b := range c.builds {
			if b.binary == p {
				return true
			}
		}
		return false
	})
	if err != nil {
		c.log.Warn("removing old driver binaries failed", "error", err)
	}
	if len(removed) > 0 {
		c.log.Info("removed old driver binaries", "binaries", removed)
	}
}
