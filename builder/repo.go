package builder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
)

// RepoStatus is what the status and repository routes show about one repository.
type RepoStatus struct {
	ID        string    `json:"id"`
	URI       string    `json:"uri"`              // embedded credentials redacted (model.RedactURI)
	Branch    string    `json:"branch,omitempty"` // configured, else the remote's default
	State     string    `json:"state"`            // pending | cloning | fetching | ready | error
	Cloned    bool      `json:"cloned"`
	Head      string    `json:"head,omitempty"` // the branch's commit at the last fetch
	LastFetch time.Time `json:"last_fetch,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Failures  int       `json:"failures,omitempty"` // consecutive
	NextRetry time.Time `json:"next_retry,omitzero"`
}

// Repository states.
const (
	StatePending  = "pending"
	StateCloning  = "cloning"
	StateFetching = "fetching"
	StateReady    = "ready"
	StateError    = "error"
)

// repoState is one repository. Fields other than lock and repo are guarded by Builder.mu; repo
// is only touched while holding lock, because go-git's storage is not safe for a fetch running
// beside reads.
type repoState struct {
	lock chan struct{}
	repo *git.Repository

	spec      model.Repository
	tracked   bool
	invalid   error
	cloned    bool
	busy      string // StateCloning or StateFetching while one runs
	lastFetch time.Time
	lastErr   string
	failures  int
	nextTry   time.Time
	head      string
	branch    string
}

// dueAt is when the background loop should sync st next; zero means never.
func (st *repoState) dueAt(interval time.Duration) time.Time {
	switch {
	case st.failures > 0:
		return st.nextTry
	case !st.cloned:
		return time.Unix(1, 0)
	case interval < 0:
		return time.Time{}
	default:
		return st.lastFetch.Add(interval)
	}
}

func (st *repoState) acquire(ctx context.Context) error {
	select {
	case st.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *repoState) release() { <-st.lock }

// forget closes the go-git handle of an untracked repository that nothing uses, so that its
// caches and pack indexes are freed; the next use opens the clone again. One in use is left to
// the next SetRepositories. The small state itself stays: its lock keeps two handles of one
// clone from ever running side by side.
func (st *repoState) forget() {
	select {
	case st.lock <- struct{}{}:
		st.repo = nil
		st.release()
	default:
	}
}

func (b *Builder) repoDir(id string) string { return filepath.Join(b.reposDir(), id) }

// discoverRepos finds the clones a previous run left, so that they are used without cloning.
func (b *Builder) discoverRepos() error {
	entries, err := os.ReadDir(b.reposDir())
	if err != nil {
		return fmt.Errorf("builder: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || !model.ValidID(e.Name()) {
			continue
		}
		if _, err := os.Stat(filepath.Join(b.repoDir(e.Name()), "HEAD")); err != nil {
			continue
		}
		// Treated as just fetched: a restart must not fetch every repository at once.
		b.repos[e.Name()] = &repoState{lock: make(chan struct{}, 1), spec: model.Repository{ID: e.Name()},
			cloned: true, lastFetch: time.Now()}
	}
	if len(b.repos) > 0 {
		b.log.Info("found repositories", "count", len(b.repos))
	}
	return nil
}

// state returns the state of r, creating it, and records r as its current spec.
func (b *Builder) state(r model.Repository) *repoState {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.repos[r.ID]
	if st == nil {
		st = &repoState{lock: make(chan struct{}, 1)}
		b.repos[r.ID] = st
	}
	if st.spec.URI != "" && st.spec.URI != r.URI {
		st.lastFetch = time.Time{} // a moved repository is fetched from its new place soon
	}
	st.spec = r
	return st
}

// SetRepositories declares the repositories this node needs. Missing ones are cloned in the
// background (with backoff on failure), all are fetched every FetchInterval. Repositories left
// out are no longer fetched and their go-git handles are closed; their clones stay on disk (a
// model edit should not cost a clone).
func (b *Builder) SetRepositories(repos []model.Repository) {
	seen := map[string]bool{}
	for _, r := range repos {
		err := model.ValidateRepository(r)
		if err != nil && !model.ValidID(r.ID) {
			b.log.Error("repository refused", "repository", r.ID, "error", err)
			continue
		}
		st := b.state(r)
		b.mu.Lock()
		st.tracked, st.invalid = true, err
		if err != nil {
			st.lastErr = err.Error()
		}
		b.mu.Unlock()
		if err != nil {
			b.log.Error("repository refused", "repository", r.ID, "error", err)
		}
		seen[r.ID] = true
	}
	b.mu.Lock()
	for id, st := range b.repos {
		if !seen[id] {
			st.tracked = false
			st.forget()
		}
	}
	b.mu.Unlock()
	b.poke()
}

// Sync clones r if it is missing, else fetches it. Concurrent calls for one repository share
// the fetch that is running. A failure is recorded in the status and retried with backoff if r
// is tracked.
func (b *Builder) Sync(ctx context.Context, r model.Repository) (RepoStatus, error) {
	if err := model.ValidateRepository(r); err != nil {
		return RepoStatus{}, err
	}
	if b.closed() {
		return RepoStatus{}, ErrClosed
	}
	return b.sync(ctx, b.state(r))
}

func (b *Builder) sync(ctx context.Context, st *repoState) (RepoStatus, error) {
	start := time.Now()
	if err := st.acquire(ctx); err != nil {
		return b.repoStatus(st), err
	}
	defer st.release()
	// lastFetch is when a fetch began, not when it ended: one that began before this call was
	// made may have missed what the caller just pushed.
	began := time.Now()
	b.mu.Lock()
	if st.cloned && st.failures == 0 && st.lastFetch.After(start) {
		// Someone fetched while we waited: that fetch is as fresh as ours would be.
		b.mu.Unlock()
		return b.repoStatus(st), nil
	}
	spec, cloned := st.spec, st.cloned
	if _, err := os.Stat(filepath.Join(b.repoDir(spec.ID), "HEAD")); err != nil {
		cloned = false
	}
	st.busy = StateFetching
	if !cloned {
		st.busy = StateCloning
	}
	b.mu.Unlock()

	gctx, cancel := context.WithTimeout(ctx, b.cfg.GitTimeout)
	defer cancel()
	gctx, silence := withSilenceBound(gctx, b.cfg.GitStallTimeout)
	log := b.log.With("repository", spec.ID, "uri", model.RedactURI(spec.URI))
	var err error
	if cloned {
		err = b.fetch(gctx, st, spec)
	} else {
		log.Info("cloning")
		err = b.clone(gctx, st, spec)
	}
	var head, branch string
	if err == nil {
		branch, head, err = branchHead(st.repo, spec.Branch)
		if errors.Is(err, ErrRevisionNotFound) && spec.Branch == "" {
			err = nil // an empty repository has no default branch yet
		}
	}

	if err != nil && silence.stalled.Load() && !errors.Is(err, ErrGitStalled) {
		err = stalledError{err}
	}

	b.mu.Lock()
	st.busy = ""
	if err != nil {
		st.failures++
		st.nextTry = time.Now().Add(b.backoff(st.failures))
		// Only the redacted text goes on: the status and the error reach every role, the log
		// every operator, and the raw error quotes the URI with its credentials.
		st.lastErr = redactError(spec.URI, err)
		st.cloned = cloned
		b.mu.Unlock()
		err = &redactedError{text: st.lastErr, err: err}
		log.Error("repository sync failed", "error", err, "failures", st.failures,
			"retry_in", b.backoff(st.failures).String())
		if !cloned {
			return b.repoStatus(st), fmt.Errorf("%w: %s: %w", ErrRepositoryUnavailable, spec.ID, err)
		}
		return b.repoStatus(st), errkind.Wrap(errkind.Unavailable, err, "fetch %s", spec.ID)
	}
	st.failures, st.lastErr, st.nextTry = 0, "", time.Time{}
	st.cloned, st.lastFetch, st.head, st.branch = true, began, head, branch
	b.mu.Unlock()
	if cloned {
		log.Debug("fetched", "branch", branch, "head", short(head), "duration", time.Since(start).String())
	} else {
		log.Info("cloned", "branch", branch, "head", short(head), "duration", time.Since(start).Round(time.Millisecond).String())
	}
	return b.repoStatus(st), nil
}

func (b *Builder) backoff(failures int) time.Duration {
	d := b.cfg.RetryMin
	for i := 1; i < failures && d < b.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, b.cfg.RetryMax)
}

// clone makes a full bare clone beside the final folder and renames it into place, so that a
// folder under repositories/ is always a complete clone.
func (b *Builder) clone(ctx context.Context, st *repoState, spec model.Repository) error {
	auth, err := b.auth(spec)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(b.reposDir(), spec.ID+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	opts := &git.CloneOptions{URL: spec.URI, Auth: auth, Tags: git.AllTags}
	if spec.Branch != "" {
		opts.ReferenceName = plumbing.NewBranchReferenceName(spec.Branch)
		opts.SingleBranch = false
	}
	// No work tree: bare, as PlainClone(..., true, ...) would, on the builder's bounded storage.
	s := b.cloneStorage(tmp)
	err = s.guard(ctx, func(ctx context.Context) error {
		_, err := git.CloneContext(ctx, s, nil, opts)
		return err
	})
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	if err := privateTree(tmp); err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	dir := b.repoDir(spec.ID)
	_ = os.RemoveAll(dir) // a folder without HEAD is not a clone
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	repo, err := b.openClone(dir)
	if err != nil {
		return err
	}
	st.repo = repo
	b.stats.clones.Add(1)
	return nil
}

func (b *Builder) fetch(ctx context.Context, st *repoState, spec model.Repository) error {
	if st.repo == nil {
		repo, err := b.openClone(b.repoDir(spec.ID))
		if err != nil {
			return fmt.Errorf("open clone: %w", err)
		}
		st.repo = repo
	}
	if spec.URI != "" {
		if err := setOrigin(st.repo, spec.URI); err != nil {
			return err
		}
	}
	auth, err := b.auth(spec)
	if err != nil {
		return err
	}
	err = st.repo.Storer.(*boundedStorage).guard(ctx, func(ctx context.Context) error {
		return st.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", Auth: auth, Tags: git.AllTags, Force: true, Prune: true})
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetch: %w", err)
	}
	b.stats.fetches.Add(1)
	if err == nil { // something new was written
		if err := privateTree(b.repoDir(spec.ID)); err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
	}
	return nil
}

// privateTree takes group and other permissions away from everything under dir. go-git makes
// the packs and objects it writes read-only for everyone (0444, as git does), past any umask;
// a clone may be private source, readable by the engine's user alone. Symbolic links are left
// (chmod would follow them).
func privateTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			return os.Chmod(p, perm&^0o077)
		}
		return nil
	})
}

// setOrigin points the clone's origin at uri when the model moved the repository.
func setOrigin(repo *git.Repository, uri string) error {
	cfg, err := repo.Config()
	if err != nil {
		return err
	}
	rc := cfg.Remotes["origin"]
	if rc == nil || len(rc.URLs) == 0 || rc.URLs[0] == uri {
		return nil
	}
	rc.URLs = []string{uri}
	cfg.Remotes["origin"] = &gitconfig.RemoteConfig{Name: "origin", URLs: rc.URLs, Fetch: rc.Fetch}
	return repo.SetConfig(cfg)
}

// branchHead resolves branch (or the remote's default branch) to its commit at the last fetch.
func branchHead(repo *git.Repository, branch string) (name, commit string, err error) {
	if branch == "" {
		head, err := repo.Storer.Reference(plumbing.HEAD)
		if err != nil || head.Type() != plumbing.SymbolicReference {
			return "", "", fmt.Errorf("%w: no default branch", ErrRevisionNotFound)
		}
		branch = head.Target().Short()
	}
	ref, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", branch), true)
	if err != nil {
		return branch, "", fmt.Errorf("%w: branch %q", ErrRevisionNotFound, branch)
	}
	return branch, ref.Hash().String(), nil
}

// RepoStatus returns the status of one repository.
func (b *Builder) RepoStatus(id string) (RepoStatus, bool) {
	b.mu.Lock()
	st := b.repos[id]
	b.mu.Unlock()
	if st == nil {
		return RepoStatus{}, false
	}
	return b.repoStatus(st), true
}

func (b *Builder) repoStatus(st *repoState) RepoStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := RepoStatus{ID: st.spec.ID, URI: model.RedactURI(st.spec.URI), Branch: st.branch, Cloned: st.cloned,
		Head: st.head, LastFetch: st.lastFetch, LastError: st.lastErr, Failures: st.failures, NextRetry: st.nextTry}
	if st.spec.Branch != "" {
		s.Branch = st.spec.Branch
	}
	switch {
	case st.busy != "":
		s.State = st.busy
	case st.invalid != nil || st.failures > 0:
		s.State = StateError
	case st.cloned:
		s.State = StateReady
	default:
		s.State = StatePending
	}
	return s
}
