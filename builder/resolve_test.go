package builder

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

// TestCommitIsNeverABranch: a pinned commit that is not in the repository is an error, even
// when a branch or a tag carries its name; it never builds what that name points at (red team
// 12, finding 6). A real commit still resolves by its full id or a prefix, after a fetch when it
// is newer than the clone.
func TestCommitIsNeverABranch(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, reviewed := newDriverRepo(t)
	runGit(t, src, "checkout", "-q", "-b", "cafe123")
	testutil.WriteFile(t, filepath.Join(src, "drivers", "display", "evil.go"), "package main\n")
	attacker := commitAll(t, src, "attacker")
	runGit(t, src, "tag", "beef1234")
	runGit(t, src, "checkout", "-q", "main")
	for _, name := range []string{"cafe123", "beef1234"} {
		if strings.HasPrefix(reviewed, name) || strings.HasPrefix(attacker, name) {
			t.Skipf("a commit id of this run starts with %s", name)
		}
	}
	b := newBuilder(t, t.TempDir(), nil)
	repo := repoOf("amb", src)

	for _, ref := range []string{"cafe123", "beef1234"} {
		got, err := b.Resolve(ctx, repo, ref)
		if !errors.Is(err, ErrRevisionNotFound) || !errors.Is(err, errkind.NotFound) ||
			!strings.Contains(err.Error(), "is not in the repository") {
			t.Errorf("commit %s (a branch or tag name) resolved to %q, %v; want not found", ref, got, err)
		}
	}
	pinned := repo
	pinned.Commit = "cafe123"
	if got, err := b.Resolve(ctx, pinned, ""); !errors.Is(err, ErrRevisionNotFound) {
		t.Errorf("the repository's pin cafe123 resolved to %q, %v; want not found", got, err)
	}
	if _, err := b.EnsureDriver(ctx, repo, model.Driver{Path: "drivers/display", Commit: "cafe123"}); !errors.Is(err, ErrRevisionNotFound) {
		t.Errorf("a driver pinned to cafe123: %v, want not found", err)
	}
	if s := b.Stats(); s.Builds != 0 || s.Fetches == 0 {
		t.Errorf("want no build and a fetch for the missing commit: %+v", s)
	}

	// Real commits: full, by prefix, and one made after the clone (found by the fetch).
	later := setVersion(t, src, "2.0.0")
	for _, ref := range []string{reviewed, reviewed[:7], attacker[:9], later[:12]} {
		got, err := b.Resolve(ctx, repo, ref)
		if err != nil || !strings.HasPrefix(got, ref) || len(got) != 40 {
			t.Errorf("commit %s resolved to %q, %v", ref, got, err)
		}
	}
	// A branch is followed through the repository's branch.
	branch := repo
	branch.Branch = "cafe123"
	if got, err := b.Resolve(ctx, branch, ""); err != nil || got != attacker {
		t.Errorf("branch cafe123 resolved to %q, %v; want %s", got, err, attacker)
	}
	// Anything but a commit id is refused as a commit.
	if _, err := b.Resolve(ctx, repo, "main"); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("commit \"main\": %v, want the model's ErrInvalid", err)
	}
}

// TestAmbiguousCommitRefused: a prefix two commits share is refused with the count, not
// resolved to whichever go-git meets first; one more digit picks one.
func TestAmbiguousCommitRefused(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, _ := newDriverRepo(t)
	a, bb, common := collidingCommits(t, src, 7)
	b := newBuilder(t, t.TempDir(), nil)
	repo := repoOf("twins", src)

	_, err := b.Resolve(ctx, repo, a[:7])
	if !errors.Is(err, ErrAmbiguousCommit) || !errors.Is(err, errkind.BadRequest) || !strings.Contains(err.Error(), "2 commits") {
		t.Fatalf("prefix %s of %s and %s: %v, want ambiguous", a[:7], a, bb, err)
	}
	for _, want := range []string{a, bb} {
		if got, err := b.Resolve(ctx, repo, want[:common+1]); err != nil || got != want {
			t.Errorf("prefix %s resolved to %q, %v; want %s", want[:common+1], got, err, want)
		}
	}
}

// collidingCommits writes two commits of the repository at dir whose ids share at least n hex
// digits, each on a branch of its own so that a clone has them, and returns their ids and how
// many digits they share. Found by the birthday bound: about 2^(2n) commit objects are hashed,
// and only the two that collide are stored.
func collidingCommits(t *testing.T, dir string, n int) (a, b string, common int) {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	parent, err := repo.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "test", Email: "test@example.com", When: time.Unix(1_700_000_000, 0).UTC()}
	encode := func(i int) plumbing.EncodedObject {
		c := &object.Commit{Author: sig, Committer: sig, Message: fmt.Sprintf("twin %d\n", i),
			TreeHash: parent.TreeHash, ParentHashes: []plumbing.Hash{parent.Hash}}
		o := repo.Storer.NewEncodedObject()
		if err := c.Encode(o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	seen := map[string]int{}
	for i := 0; i < 1<<22; i++ {
		h := encode(i).Hash().String()
		j, dup := seen[h[:n]]
		if !dup {
			seen[h[:n]] = i
			continue
		}
		for k, idx := range []int{j, i} {
			o := encode(idx)
			if _, err := repo.Storer.SetEncodedObject(o); err != nil {
				t.Fatal(err)
			}
			ref := plumbing.NewHashReference(plumbing.NewBranchReferenceName(fmt.Sprintf("twin%d", k)), o.Hash())
			if err := repo.Storer.SetReference(ref); err != nil {
				t.Fatal(err)
			}
		}
		a, b = encode(j).Hash().String(), h
		for common < len(a) && a[common] == b[common] {
			common++
		}
		return a, b, common
	}
	t.Fatal("no two commits share a prefix")
	return "", "", 0
}
