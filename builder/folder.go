package builder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// BuildFolder compiles the driver in dir, an author's working folder as it is on disk
// (uncommitted edits included) rather than a commit of a repository: `engine dev --watch` calls
// it on every save. It takes the path every build takes (a build slot, SDKDir in place of the
// engine requirement, the binary installed with its SHA-256 sidecar and checked before every
// launch), reading the folder's go.mod and go.sum from copies so that nothing in dir is written.
//
// The binary is named after the folder and its own checksum, <folder>_dev-<sha7>_<os>-<arch>: a
// save that does not change the binary gives the path already running, any other a new path,
// which the driver's modules move to without a gap. A driver that does not compile returns a
// *BuildError with the compiler's output. The build stops when ctx ends or the builder closes.
func (b *Builder) BuildFolder(ctx context.Context, dir string) (Binary, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Binary{}, fmt.Errorf("builder: %w", err)
	}
	slug := folderSlug(dir)
	// One status per folder, showing its latest outcome.
	name := fmt.Sprintf("%s_dev_%s-%s", slug, runtime.GOOS, runtime.GOARCH)

	b.mu.Lock()
	if b.closed() { // under mu, as in build: nothing joins wg once Close waits on it
		b.mu.Unlock()
		return Binary{}, ErrClosed
	}
	b.queued++
	b.wg.Add(1)
	b.mu.Unlock()
	defer b.wg.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.ctx, cancel)()

	prepare := func(ctx context.Context, work string) (target, error) {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return target{}, fmt.Errorf("%w: %s is not a folder", ErrInvalid, dir)
		}
		modRoot, ok := ModuleRoot(dir)
		if !ok {
			return target{}, fmt.Errorf("%w: no go.mod in %s or above it", ErrNoModule, dir)
		}
		modFile := filepath.Join(work, "mod", "go.mod")
		if err := copyModFiles(modRoot, filepath.Dir(modFile)); err != nil {
			return target{}, err
		}
		return newTarget(modRoot, modFile, dir)
	}
	install := func(exe string, sc sidecar) (string, error) {
		bin := fmt.Sprintf("%s_dev-%s_%s-%s", slug, sc.SHA256[:7], runtime.GOOS, runtime.GOARCH)
		if have, err := b.load(bin, ""); err == nil && have.Checksum() == sc.SHA256 {
			// The binary of an earlier save: its file stays, a process may be running it.
			b.touch(have.Path)
			return have.Path, nil
		}
		return b.binPath(bin), b.install(bin, exe, sc)
	}
	status := b.runCompile(ctx, &BuildStatus{Name: name, Path: dir}, b.log.With("folder", dir), prepare, install)

	b.mu.Lock()
	b.settleLocked(name, status)
	b.mu.Unlock()
	if status.err != nil {
		return Binary{}, status.err
	}
	return status.binary(), nil
}

// ModuleRoot is the nearest folder at or above dir holding a go.mod: the module BuildFolder
// builds dir in.
func ModuleRoot(dir string) (string, bool) { return moduleRoot(dir, "") }

// Discard removes a binary of the drivers folder and its sidecar, the sidecar first so that a
// crash in between leaves nothing launchable: a watched folder makes a binary per save, and the
// watch discards each once no module runs it.
func (b *Builder) Discard(binPath string) error {
	abs, err := filepath.Abs(binPath)
	if err != nil || filepath.Dir(abs) != b.driversDir() {
		return fmt.Errorf("%w: %s is not a binary of %s", ErrInvalid, binPath, b.driversDir())
	}
	for _, p := range []string{abs + ".json", abs} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("builder: %w", err)
		}
	}
	return nil
}

// copyModFiles copies go.mod and go.sum (when there is one) of the module at modRoot into dst,
// where the build may rewrite them.
func copyModFiles(modRoot, dst string) error {
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(modRoot, f))
		if f == "go.sum" && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// folderSlug is the folder's name as a file name part: letters, digits, '.' and '-' kept, the
// rest (the '_' that separates a binary name's parts included) written as '-'.
func folderSlug(dir string) string {
	slug := strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, filepath.Base(dir))
	if strings.Trim(slug, ".-") == "" {
		return "driver"
	}
	return slug
}
