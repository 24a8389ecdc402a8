package builder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

// TestCloneFailureRetried: a repository that cannot be cloned shows why, is retried with
// backoff, and is cloned once it appears.
func TestCloneFailureRetried(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "not-yet")
	repo := model.Repository{ID: "later", URI: missing}
	b := newBuilder(t, t.TempDir(), nil)
	b.SetRepositories([]model.Repository{repo})

	testutil.Eventually(t, 10*time.Second, "two failed clone attempts", func() bool {
		s, _ := b.RepoStatus("later")
		return s.Failures >= 2
	})
	s, _ := b.RepoStatus("later")
	if s.State != StateError && s.State != StateCloning || s.LastError == "" || s.Cloned {
		t.Fatalf("status of an unclonable repository: %+v", s)
	}
	if _, err := b.Resolve(context.Background(), repo, ""); !errors.Is(err, ErrRepositoryUnavailable) ||
		!errors.Is(err, errkind.Unavailable) {
		t.Fatalf("Resolve on an unclonable repository: %v", err)
	}

	// The repository appears: the next retry clones it.
	if err := os.Rename(mustDriverRepo(t), missing); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the clone after the repository appeared", func() bool {
		s, _ := b.RepoStatus("later")
		return s.State == StateReady && s.Cloned && s.Head != ""
	})
	if s, _ := b.RepoStatus("later"); s.Failures != 0 || s.LastError != "" {
		t.Fatalf("recovered repository still shows an error: %+v", s)
	}
}

func mustDriverRepo(t *testing.T) string {
	dir, _ := newDriverRepo(t)
	return dir
}

// TestPeriodicFetch: a tracked repository picks up new commits without a pull.
func TestPeriodicFetch(t *testing.T) {
	t.Parallel()
	src, first := newDriverRepo(t)
	b := newBuilder(t, t.TempDir(), func(c *Config) { c.FetchInterval = 50 * time.Millisecond })
	b.SetRepositories([]model.Repository{repoOf("auto", src)})
	testutil.Eventually(t, 10*time.Second, "clone", func() bool {
		s, _ := b.RepoStatus("auto")
		return s.Head == first
	})
	second := setVersion(t, src, "1.1.0")
	testutil.Eventually(t, 10*time.Second, "periodic fetch of the new commit", func() bool {
		s, _ := b.RepoStatus("auto")
		return s.Head == second
	})
	// The repository's branch resolves too, and a missing one is a clear NotFound.
	runGit(t, src, "branch", "release/1")
	if _, err := b.Sync(context.Background(), repoOf("auto", src)); err != nil {
		t.Fatal(err)
	}
	onBranch := func(name string) model.Repository {
		r := repoOf("auto", src)
		r.Branch = name
		return r
	}
	if c, err := b.Resolve(context.Background(), onBranch("release/1"), ""); err != nil || c != second {
		t.Fatalf("branch release/1 resolved to %s, %v", c, err)
	}
	if _, err := b.Resolve(context.Background(), onBranch("nope"), ""); !errors.Is(err, ErrRevisionNotFound) ||
		!errors.Is(err, errkind.NotFound) {
		t.Fatalf("missing branch: %v", err)
	}
}

// TestBuildTimeout: a build that overruns is killed with its compiler processes and reported as
// a timeout.
func TestBuildTimeout(t *testing.T) {
	t.Parallel()
	src, head := newDriverRepo(t)
	// Link a fresh package so nothing is cached: a build that cannot finish in the time given.
	testutil.WriteFile(t, filepath.Join(src, "drivers", "display", "salt.go"), "package main\n\nconst salt = \""+head+"\"\n")
	head = commitAll(t, src, "salt")
	b := newBuilder(t, t.TempDir(), func(c *Config) { c.BuildTimeout = 300 * time.Millisecond })
	_, err := b.Build(context.Background(), repoOf("slow", src), "drivers/display", head)
	if !errors.Is(err, ErrBuildTimeout) || !errors.Is(err, errkind.Timeout) || errors.Is(err, errkind.BadRequest) {
		t.Fatalf("want a build timeout, got %v", err)
	}
	// No compiler of ours is left running.
	testutil.Eventually(t, 10*time.Second, "compiler processes to exit", func() bool {
		return len(commandsContaining(t, filepath.Join(b.buildsDir(), ""))) == 0
	})
}
