package builder

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/placeos-go/engine/model"
)

// Resolve turns ref into a full commit id. ref is a commit id: 40 hex digits, or a prefix of 7
// or more that no other commit of the repository shares. Empty means the repository's pinned
// commit, else its branch (or the remote's default branch) as of the last fetch. A commit that
// is not in the clone triggers one fetch. The repository is cloned first if it is not yet.
//
// A commit is an object id and never a name: a branch or tag called like a hex prefix (which
// anyone who may push can create) is not looked at, and a commit missing even after the fetch
// (rebased away, from a fork, mistyped) is an error rather than whatever such a name points at.
// Branches come only from the repository's branch field.
func (b *Builder) Resolve(ctx context.Context, r model.Repository, ref string) (string, error) {
	if err := model.ValidateRepository(r); err != nil {
		return "", err
	}
	if ref == "" {
		ref = r.Commit
	}
	if ref != "" {
		if err := model.ValidateCommit(ref); err != nil {
			return "", err
		}
	}
	st, err := b.ensureCloned(ctx, r)
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		var commit string
		err := b.withRepo(ctx, st, func(repo *git.Repository) error {
			var err error
			commit, err = resolveIn(repo, ref, r.Branch)
			return err
		})
		if err == nil || !errors.Is(err, ErrRevisionNotFound) || ref == "" {
			return commit, err
		}
		if attempt > 0 {
			return "", fmt.Errorf("repository %s, after a fetch: %w", r.ID, err)
		}
		// A pinned commit may be newer than our last fetch.
		if _, err := b.sync(ctx, st); err != nil {
			return "", err
		}
	}
}

// resolveIn resolves commit, a commit id or a prefix of one, or when it is empty the head of
// branch.
func resolveIn(repo *git.Repository, commit, branch string) (string, error) {
	if commit == "" {
		_, head, err := branchHead(repo, branch)
		return head, err
	}
	hashes, err := hashesWithPrefix(repo, commit)
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", commit, err)
	}
	var found []string
	for _, h := range hashes {
		if _, err := repo.CommitObject(h); err == nil {
			found = append(found, h.String())
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: commit %s is not in the repository (a commit is an object id, "+
			"never a branch or tag name; to follow a branch, set the repository's branch)", ErrRevisionNotFound, commit)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%w: %d commits start with %s; give more of its digits", ErrAmbiguousCommit, len(found), commit)
}

// hashesWithPrefix lists the objects of repo whose id starts with prefix (hex digits). go-git's
// own ResolveRevision would do this, but it also reads the prefix as a branch or tag name and
// takes the first of several objects that share it.
func hashesWithPrefix(repo *git.Repository, prefix string) ([]plumbing.Hash, error) {
	if len(prefix) == 2*len(plumbing.ZeroHash) {
		return []plumbing.Hash{plumbing.NewHash(prefix)}, nil
	}
	// A byte prefix first (hex decodes whole bytes only), then the odd digit.
	whole, err := hex.DecodeString(prefix[:len(prefix)&^1])
	if err != nil {
		return nil, err
	}
	// A clone is always on the file system, whose storage finds them in its pack indexes and
	// object folders.
	st, ok := repo.Storer.(interface {
		HashesWithPrefix([]byte) ([]plumbing.Hash, error)
	})
	if !ok {
		return nil, fmt.Errorf("storage %T cannot look commits up by prefix", repo.Storer)
	}
	all, err := st.HashesWithPrefix(whole)
	var hashes []plumbing.Hash
	for _, h := range all {
		if strings.HasPrefix(h.String(), prefix) {
			hashes = append(hashes, h)
		}
	}
	return hashes, err
}

// ensureCloned returns the state of r after cloning it if needed.
func (b *Builder) ensureCloned(ctx context.Context, r model.Repository) (*repoState, error) {
	if b.closed() {
		return nil, ErrClosed
	}
	st := b.state(r)
	b.mu.Lock()
	cloned := st.cloned
	b.mu.Unlock()
	if !cloned {
		if _, err := b.sync(ctx, st); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// withRepo runs fn with the repository opened and locked.
func (b *Builder) withRepo(ctx context.Context, st *repoState, fn func(*git.Repository) error) error {
	if err := st.acquire(ctx); err != nil {
		return err
	}
	defer st.release()
	if st.repo == nil {
		b.mu.Lock()
		id := st.spec.ID
		b.mu.Unlock()
		repo, err := b.openClone(b.repoDir(id))
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrRepositoryUnavailable, id, err)
		}
		st.repo = repo
	}
	return fn(st.repo)
}
