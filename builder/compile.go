package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/version"
)

// compile exports the commit, builds it and installs the binary with its sidecar. The returned
// status carries the outcome (and err when it failed).
func (b *Builder) compile(name string, r model.Repository, driverPath, commit string) *BuildStatus {
	status := &BuildStatus{Name: name, RepositoryID: r.ID, Path: driverPath, Commit: commit}
	log := b.log.With("driver", driverPath, "repository", r.ID, "commit", short(commit))
	prepare := func(ctx context.Context, work string) (target, error) {
		src := filepath.Join(work, "src")
		if err := os.Mkdir(src, 0o700); err != nil {
			return target{}, err
		}
		if err := b.export(ctx, r, driverPath, commit, src); err != nil {
			return target{}, err
		}
		modRoot, err := findModuleRoot(src, driverPath)
		if err != nil {
			return target{}, err
		}
		return newTarget(modRoot, filepath.Join(modRoot, "go.mod"), filepath.Join(src, filepath.FromSlash(driverPath)))
	}
	install := func(exe string, sc sidecar) (string, error) { return b.binPath(name), b.install(name, exe, sc) }
	return b.runCompile(b.ctx, status, log, prepare, install)
}

// target is what one compilation builds: the driver package pkg ("./" and a path relative to
// modRoot, so that it is never read as a flag) of the module rooted at modRoot, whose go.mod
// the go tool reads from modFile (-modfile): a copy, when the source is an author's working
// folder, so that the build never writes their go.mod or go.sum.
type target struct{ modRoot, modFile, pkg string }

func newTarget(modRoot, modFile, pkgDir string) (target, error) {
	// go build of a package that is not main "succeeds" too, writing an archive.
	if p, err := build.ImportDir(pkgDir, 0); err == nil && !p.IsCommand() {
		return target{}, fmt.Errorf("%w: %s is package %s, not a main package (a driver is `package main` calling sdk.Serve)", ErrInvalid, pkgDir, p.Name)
	}
	pkg, err := filepath.Rel(modRoot, pkgDir)
	if err != nil {
		return target{}, err
	}
	return target{modRoot: modRoot, modFile: modFile, pkg: "./" + filepath.ToSlash(pkg)}, nil
}

// runCompile is the one build path, of a commit and of a working folder alike: a build slot,
// a work folder of its own that prepare lays the source out in, the engine requirement pointed
// at SDKDir, go build, the binary's SHA-256, and install, which puts the binary in place with
// its sidecar and returns its path. status names the build and carries its outcome.
func (b *Builder) runCompile(parent context.Context, status *BuildStatus, log hclog.Logger, prepare func(ctx context.Context, work string) (target, error),
	install func(exe string, sc sidecar) (string, error)) *BuildStatus {
	status.State, status.Started = BuildBuilding, time.Now()
	defer b.observe(status)
	b.mu.Lock()
	running := *status
	b.builds[status.Name] = &running
	b.mu.Unlock()

	fail := func(err error, output string) *BuildStatus {
		status.State, status.Finished = BuildFailed, time.Now()
		status.Seconds = status.Finished.Sub(status.Started).Seconds()
		status.Output = output
		if output != "" {
			err = &BuildError{Path: status.Path, Commit: status.Commit, Output: output, Err: err}
		}
		status.err, status.Error = err, err.Error()
		b.stats.failures.Add(1)
		log.Error("build failed", "error", firstLine(err.Error()), "output", output)
		return status
	}

	select {
	case b.sem <- struct{}{}:
		defer func() { <-b.sem }()
	case <-b.ctx.Done():
		return fail(ErrClosed, "")
	}
	b.mu.Lock()
	b.started++
	progress := fmt.Sprintf("%d/%d", b.started, b.started+b.queued-1)
	b.mu.Unlock()
	log.Info("compiling", "progress", progress)

	ctx, cancel := context.WithTimeout(parent, b.cfg.BuildTimeout)
	defer cancel()
	work, err := os.MkdirTemp(b.buildsDir(), status.Name+".tmp-")
	if err != nil {
		return fail(err, "")
	}
	defer os.RemoveAll(work)
	t, err := prepare(ctx, work)
	if err != nil {
		return fail(b.timeoutOr(ctx, err), "")
	}
	out := &tailBuffer{max: maxOutput}
	if err := b.replaceEngine(ctx, t, out); err != nil {
		return fail(b.timeoutOr(ctx, err), out.String())
	}
	exe := filepath.Join(work, "driver")
	b.stats.builds.Add(1)
	if err := b.goCmd(ctx, t.modRoot, out, "build", "-trimpath", "-modfile="+t.modFile, "-o", exe, t.pkg); err != nil {
		return fail(b.timeoutOr(ctx, err), out.String())
	}
	sum, err := fileSHA256(exe)
	if err != nil {
		return fail(err, "")
	}
	status.Finished = time.Now()
	status.Seconds = status.Finished.Sub(status.Started).Seconds()
	hexSum := fmt.Sprintf("%x", sum)
	bin, err := install(exe, sidecar{RepositoryID: status.RepositoryID, Path: status.Path, Commit: status.Commit,
		SHA256: hexSum, GoVersion: b.goVersion(), BuiltAt: status.Finished, Seconds: status.Seconds})
	if err != nil {
		return fail(err, "")
	}
	status.State, status.Binary, status.SHA256 = BuildBuilt, bin, hexSum
	log.Info("compiled", "binary", filepath.Base(bin), "duration", fmt.Sprintf("%.1fs", status.Seconds))
	return status
}

// observe records a finished compile in the metrics.
func (b *Builder) observe(s *BuildStatus) {
	if s.State != BuildBuilding && !errors.Is(s.err, ErrClosed) { // cut short by Close: says nothing about the driver
		b.cfg.Metrics.ObserveBuild(time.Duration(s.Seconds*float64(time.Second)), s.err)
	}
}

func (b *Builder) timeoutOr(ctx context.Context, err error) error {
	switch {
	case b.ctx.Err() != nil:
		return ErrClosed
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w after %s", ErrBuildTimeout, b.cfg.BuildTimeout)
	case ctx.Err() != nil:
		return ctx.Err() // the caller of BuildFolder gave up
	}
	return err
}

// install moves the binary into drivers/ and writes its sidecar last: a binary without sidecar
// (a crash between the two) is never trusted. Both are the engine's user's alone: the binary
// 0700 (the go tool writes 0755 less the umask), the sidecar 0600.
func (b *Builder) install(name, exe string, sc sidecar) error {
	dst := b.binPath(name)
	if err := os.Chmod(exe, 0o700); err != nil {
		return fmt.Errorf("install binary: %w", err)
	}
	if err := os.Rename(exe, dst); err != nil {
		return fmt.Errorf("install binary: %w", err)
	}
	return writeSidecar(dst, sc)
}

// findModuleRoot walks up from the driver's folder to the nearest go.mod inside the export.
func findModuleRoot(src, driverPath string) (string, error) {
	dir := filepath.Join(src, filepath.FromSlash(driverPath))
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: %q is not a folder at this commit", ErrInvalid, driverPath)
	}
	root, ok := moduleRoot(dir, src)
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrNoModule, driverPath)
	}
	return root, nil
}

// moduleRoot walks up from dir to the nearest folder holding a go.mod, no higher than top (""
// for the file system's root).
func moduleRoot(dir, top string) (string, bool) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if dir == top || parent == dir {
			return "", false
		}
		dir = parent
	}
}

// replaceEngine points the module's requirement on the engine at SDKDir, dropping any replace
// the author committed for it (often a path on their own machine). The engine's own repository
// (engine dev building examples/) needs none.
func (b *Builder) replaceEngine(ctx context.Context, t target, out io.Writer) error {
	if b.cfg.SDKDir == "" {
		return nil
	}
	var js bytes.Buffer
	if err := b.goCmd(ctx, t.modRoot, &js, "mod", "edit", "-json", t.modFile); err != nil {
		_, _ = out.Write(js.Bytes())
		return fmt.Errorf("read go.mod: %w", err)
	}
	var mod struct {
		Module  struct{ Path string }
		Replace []struct {
			Old struct{ Path, Version string }
		}
	}
	if err := json.Unmarshal(js.Bytes(), &mod); err != nil {
		return fmt.Errorf("read go.mod: %w", err)
	}
	if mod.Module.Path == version.Module {
		return nil
	}
	args := []string{"mod", "edit"}
	for _, r := range mod.Replace {
		if r.Old.Path == version.Module {
			old := r.Old.Path
			if r.Old.Version != "" {
				old += "@" + r.Old.Version
			}
			args = append(args, "-dropreplace="+old)
		}
	}
	args = append(args, "-replace="+version.Module+"="+b.cfg.SDKDir, t.modFile)
	if err := b.goCmd(ctx, t.modRoot, out, args...); err != nil {
		return fmt.Errorf("replace %s: %w", version.Module, err)
	}
	return nil
}

// goCmd runs the go tool without a shell, with the clean build environment, in its own process
// group so a timeout kills the compiler processes too, and tracked (runTracked) so that it dies
// with the engine and the next start kills what it left.
func (b *Builder) goCmd(ctx context.Context, dir string, out io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, b.cfg.GoBin, args...)
	cmd.Dir = dir
	cmd.Env = b.buildEnv()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	setProcessGroup(cmd)
	return b.runTracked(cmd)
}

func (b *Builder) goVersion() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.goVer == "" {
		out, err := exec.Command(b.cfg.GoBin, "env", "GOVERSION").Output()
		if err == nil {
			b.goVer = strings.TrimSpace(string(out))
		}
	}
	return b.goVer
}

func fileSHA256(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// tailBuffer keeps the last max bytes written: the end of a compiler's output holds the errors
// that matter when a build floods its output.
type tailBuffer struct {
	buf []byte
	max int
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	s := strings.TrimSpace(string(t.buf))
	if t.cut {
		return "[...]\n" + s
	}
	return s
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
