package core

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

// stuckBuilder is a builder whose every build waits until release is closed: a clone from a git
// server that takes the connection and never answers.
type stuckBuilder struct{ release chan struct{} }

func (b *stuckBuilder) SetRepositories([]model.Repository) {}
func (b *stuckBuilder) EnsureDriver(ctx context.Context, r model.Repository, d model.Driver) (builder.Binary, error) {
	select {
	case <-b.release:
		return builder.Binary{Path: "/bin/stuck-" + d.ID, RepositoryID: r.ID, DriverPath: d.Path}, nil
	case <-ctx.Done():
		return builder.Binary{}, ctx.Err()
	}
}
func (b *stuckBuilder) Sync(context.Context, model.Repository) (builder.RepoStatus, error) {
	return builder.RepoStatus{}, errors.New("not in this test")
}
func (b *stuckBuilder) Resolve(context.Context, model.Repository, string) (string, error) {
	return "", errors.New("not in this test")
}
func (b *stuckBuilder) Rebuild(context.Context, model.Repository, string, string) (builder.Binary, error) {
	return builder.Binary{}, errors.New("not in this test")
}
func (b *stuckBuilder) LastGood(model.Repository, string, string) (builder.Binary, bool) {
	return builder.Binary{}, false
}
func (b *stuckBuilder) Status() builder.Status { return builder.Status{} }
func (b *stuckBuilder) Cleanup(time.Duration, func(string) bool) ([]string, error) {
	return nil, nil
}

const stuckRepoModel = `
repositories:
  - {id: repo-1, uri: "https://git.example.com/drivers.git"}
drivers:
  - {id: drv-d, module_name: Display, role: device, binary: /bin/display}
  - {id: drv-r, module_name: Remote, role: device, repository_id: repo-1, path: drivers/remote}
modules:
  - {id: mod-1, driver_id: drv-d, running: true}
  - {id: mod-r, driver_id: drv-r, running: true}
`

// A build that does not end (its git server never answers) holds the node's readiness for
// Config.BuildHoldsReady, not for as long as the clone hangs: past it the node is ready with
// the other modules running, and the stuck driver's module starts once its build ends.
func TestStuckBuildHoldsReadinessOnlySoLong(t *testing.T) {
	t.Parallel()
	b := &stuckBuilder{release: make(chan struct{})}
	const holds = 300 * time.Millisecond
	tc := newTestCore(t, stuckRepoModel, func(c *Config) { c.Builder = b; c.BuildHoldsReady = holds })
	ctx := t.Context()
	began := time.Now()
	tc.reconcile(ctx)
	if got := tc.sup.take(); len(got) != 1 || !strings.HasPrefix(got[0], "start mod-1 ") {
		t.Fatalf("first pass started %q, want mod-1 (mod-r is building)", got)
	}
	if tc.Ready() && time.Since(began) < holds {
		t.Fatal("ready while a build began a moment ago")
	}
	testutil.Eventually(t, 10*time.Second, "the node ready past the stuck build", func() bool {
		tc.reconcile(ctx)
		return tc.Ready()
	})
	if took := time.Since(began); took < holds {
		t.Fatalf("ready after %s, before the build had run %s", took, holds)
	}
	if got := tc.sup.take(); len(got) != 0 {
		t.Fatalf("passes while the build hangs made %q", got)
	}
	close(b.release)
	testutil.Eventually(t, 10*time.Second, "mod-r started once its build ended", func() bool {
		tc.reconcile(ctx)
		got := tc.sup.take()
		return len(got) == 1 && strings.HasPrefix(got[0], "start mod-r /bin/stuck-drv-r")
	})
}
