package builder

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/placeos-go/engine/model"
)

// Verify checks that the file at bin.Path still has the SHA-256 recorded when it was built.
func (b *Builder) Verify(bin Binary) error {
	if len(bin.SHA256) != sha256.Size {
		return fmt.Errorf("%w: %s: no checksum recorded", ErrChecksumMismatch, bin.Path)
	}
	sum, err := fileSHA256(bin.Path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrChecksumMismatch, bin.Path, err)
	}
	if subtle.ConstantTimeCompare(sum, bin.SHA256) != 1 {
		return fmt.Errorf("%w: %s: is %x, built as %x", ErrChecksumMismatch, bin.Path, sum, bin.SHA256)
	}
	return nil
}

// SecureConfig is for supervisor.Config.SecureConfig: go-plugin checks the binary against the
// SHA-256 in its sidecar right before launching it. A binary in the drivers folder without a
// readable sidecar gets a config with no checksum, which go-plugin refuses; a binary elsewhere
// (a prebuilt driver.binary from the model) gets nil, meaning no check.
func (b *Builder) SecureConfig(binaryPath string) *goplugin.SecureConfig {
	abs, err := filepath.Abs(binaryPath)
	if err != nil || filepath.Dir(abs) != b.driversDir() {
		return nil
	}
	// A new hash each call: a SecureConfig's Hash accumulates, so it cannot be reused.
	sc := &goplugin.SecureConfig{Hash: sha256.New()}
	side, err := readSidecar(abs)
	if err != nil {
		b.log.Error("binary has no checksum record, it will be refused", "binary", abs, "error", err)
		return sc
	}
	var sum []byte
	if _, err := fmt.Sscanf(side.SHA256, "%x", &sum); err == nil && len(sum) == sha256.Size {
		sc.Checksum = sum
	}
	return sc
}

// Cleanup removes binaries that no build handed out for olderThan and that inUse (may be nil)
// does not claim, e.g. the previous binary of an upgraded driver once its modules moved. It
// returns the removed paths.
func (b *Builder) Cleanup(olderThan time.Duration, inUse func(binaryPath string) bool) ([]string, error) {
	entries, err := os.ReadDir(b.driversDir())
	if err != nil {
		return nil, fmt.Errorf("builder: cleanup: %w", err)
	}
	var removed []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.Contains(name, ".tmp-") {
			continue
		}
		p := b.binPath(name)
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < olderThan || (inUse != nil && inUse(p)) {
			continue
		}
		b.mu.Lock()
		if b.flights[name] != nil {
			b.mu.Unlock()
			continue
		}
		// Sidecar first: without it the binary is no longer trusted, so a crash in between
		// leaves nothing launchable behind.
		err = os.Remove(p + ".json")
		if err == nil {
			err = os.Remove(p)
		}
		delete(b.builds, name)
		b.mu.Unlock()
		if err != nil && !os.IsNotExist(err) {
			b.log.Warn("cannot remove old binary", "binary", p, "error", err)
			continue
		}
		b.log.Info("removed unused binary", "binary", name, "unused_for", time.Since(info.ModTime()).Round(time.Second).String())
		removed = append(removed, p)
	}
	return removed, nil
}

// Status is what the builder shows on the node status route.
type Status struct {
	Repositories []RepoStatus  `json:"repositories"`
	Builds       []BuildStatus `json:"builds"`
	Stats        Stats         `json:"stats"`
}

// Status returns every repository and every build this process knows of, sorted.
func (b *Builder) Status() Status {
	b.mu.Lock()
	states := make([]*repoState, 0, len(b.repos))
	for _, st := range b.repos {
		states = append(states, st)
	}
	builds := make([]BuildStatus, 0, len(b.builds))
	for _, bs := range b.builds {
		builds = append(builds, *bs)
	}
	b.mu.Unlock()
	s := Status{Builds: builds, Stats: b.Stats()}
	for _, st := range states {
		s.Repositories = append(s.Repositories, b.repoStatus(st))
	}
	sort.Slice(s.Repositories, func(i, j int) bool { return s.Repositories[i].ID < s.Repositories[j].ID })
	sort.Slice(s.Builds, func(i, j int) bool { return s.Builds[i].Name < s.Builds[j].Name })
	return s
}

// LastGood is the binary of driverPath in repository r that driver driverID was handed most
// recently on this node (its sidecar lists the driver, and its time is refreshed by every use),
// verified against its checksum: what the driver's modules should keep running when a newer
// commit does not build. Another driver's binary of the same path is never it, nor one whose
// sidecar an older engine wrote (no driver ids) until a driver uses it again. false when there is
// none.
func (b *Builder) LastGood(r model.Repository, driverPath, driverID string) (Binary, bool) {
	entries, err := os.ReadDir(b.driversDir())
	if err != nil {
		return Binary{}, false
	}
	type candidate struct {
		name, commit string
		at           time.Time
	}
	var found []candidate
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.Contains(name, ".tmp-") {
			continue
		}
		sc, err := readSidecar(b.binPath(name))
		info, ierr := e.Info()
		if err != nil || ierr != nil || sc.RepositoryID != r.ID || sc.Path != driverPath || !slices.Contains(sc.Drivers, driverID) {
			continue
		}
		found = append(found, candidate{name, sc.Commit, info.ModTime()})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].at.After(found[j].at) })
	for _, c := range found {
		if bin, err := b.load(c.name, c.commit); err == nil {
			return bin, true
		}
	}
	return Binary{}, false
}
