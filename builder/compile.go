package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/placeos-go/engine/model"
)

// compile exports the commit, builds it and installs the binary with its sidecar. The returned
// status carries the outcome (and err when it failed).
func (b *Builder) compile(name string, r model.Repository, driverPath, commit string) *BuildStatus {
	status := &BuildStatus{Name: name, RepositoryID: r.ID, Path: driverPath, Commit: commit,
		State: BuildBuilding, Started: time.Now()}
	b.mu.Lock()
	running := *status
	b.builds[name] = &running
	b.mu.Unlock()
	log := b.log.With("driver", driverPath, "repository", r.ID, "commit", short(commit))

	fail := func(err error, output string) *BuildStatus {
		status.State, status.Finished = BuildFailed, time.Now()
		status.Seconds = status.Finished.Sub(status.Started).Seconds()
		status.Output = output
		if output != "" {
			err = &BuildError{Path: driverPath, Commit: commit, Output: output, Err: err}
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

	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.BuildTimeout)
	defer cancel()
	work, err := os.MkdirTemp(b.buildsDir(), name+".tmp-")
	if err != nil {
		return fail(err, "")
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src")
	if err := os.Mkdir(src, 0o700); err != nil {
		return fail(err, "")
	}
	if err := b.export(ctx, r, commit, src); err != nil {
		return fail(b.timeoutOr(ctx, err), "")
	}
	modRoot, err := findModuleRoot(src, driverPath)
	if err != nil {
		return fail(err, "")
	}
	out := &tailBuffer{max: maxOutput}
	if err := b.replaceEngine(ctx, modRoot, out); err != nil {
		return fail(b.timeoutOr(ctx, err), out.String())
	}
	pkg, err := filepath.Rel(modRoot, filepath.Join(src, filepath.FromSlash(driverPath)))
	if err != nil {
		return fail(err, "")
	}
	// "./" keeps the package argument from ever being read as a flag.
	pkg = "./" + filepath.ToSlash(pkg)
	exe := filepath.Join(work, "driver")
	b.stats.builds.Add(1)
	if err := b.goCmd(ctx, modRoot, out, "build", "-trimpath", "-o", exe, pkg); err != nil {
		return fail(b.timeoutOr(ctx, err), out.String())
	}
	sum, err := fileSHA256(exe)
	if err != nil {
		return fail(err, "")
	}
	status.Finished = time.Now()
	status.Seconds = status.Finished.Sub(status.Started).Seconds()
	if err := b.install(name, exe, sidecar{RepositoryID: r.ID, Path: driverPath, Commit: commit,
		SHA256: fmt.Sprintf("%x", sum), GoVersion: b.goVersion(), BuiltAt: status.Finished, Seconds: status.Seconds}); err != nil {
		return fail(err, "")
	}
	status.State, status.Binary, status.SHA256 = BuildBuilt, b.binPath(name), fmt.Sprintf("%x", sum)
	log.Info("compiled", "binary", name, "duration", fmt.Sprintf("%.1fs", status.Seconds))
	return status
}

func (b *Builder) timeoutOr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && b.ctx.Err() == nil {
		return fmt.Errorf("%w after %s", ErrBuildTimeout, b.cfg.BuildTimeout)
	}
	if b.ctx.Err() != nil {
		return ErrClosed
	}
	return err
}

// install moves the binary into drivers/ and writes its sidecar last: a binary without sidecar
// (a crash between the two) is never trusted. Both are the engine's user's alone: the binary
// 0700 (the go tool writes 0755 less the umask), the sidecar 0600 (CreateTemp's mode).
func (b *Builder) install(name, exe string, sc sidecar) error {
	dst := b.binPath(name)
	if err := os.Chmod(exe, 0o700); err != nil {
		return fmt.Errorf("install binary: %w", err)
	}
	if err := os.Rename(exe, dst); err != nil {
		return fmt.Errorf("install binary: %w", err)
	}
	data, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(b.driversDir(), name+".json.tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst+".json")
}

// findModuleRoot walks up from the driver's folder to the nearest go.mod inside the export.
func findModuleRoot(src, driverPath string) (string, error) {
	dir := filepath.Join(src, filepath.FromSlash(driverPath))
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: %q is not a folder at this commit", ErrInvalid, driverPath)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if dir == src {
			return "", fmt.Errorf("%w: %s", ErrNoModule, driverPath)
		}
		dir = filepath.Dir(dir)
	}
}

// replaceEngine points the module's requirement on the engine at SDKDir, dropping any replace
// the author committed for it (often a path on their own machine). The engine's own repository
// (engine dev building examples/) needs none.
func (b *Builder) replaceEngine(ctx context.Context, modRoot string, out io.Writer) error {
	if b.cfg.SDKDir == "" {
		return nil
	}
	var js bytes.Buffer
	if err := b.goCmd(ctx, modRoot, &js, "mod", "edit", "-json"); err != nil {
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
	if mod.Module.Path == EngineModule {
		return nil
	}
	args := []string{"mod", "edit"}
	for _, r := range mod.Replace {
		if r.Old.Path == EngineModule {
			old := r.Old.Path
			if r.Old.Version != "" {
				old += "@" + r.Old.Version
			}
			args = append(args, "-dropreplace="+old)
		}
	}
	args = append(args, "-replace="+EngineModule+"="+b.cfg.SDKDir)
	if err := b.goCmd(ctx, modRoot, out, args...); err != nil {
		return fmt.Errorf("replace %s: %w", EngineModule, err)
	}
	return nil
}

// goCmd runs the go tool without a shell, with the clean build environment, in its own process
// group so a timeout kills the compiler processes too.
func (b *Builder) goCmd(ctx context.Context, dir string, out io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, b.cfg.GoBin, args...)
	cmd.Dir = dir
	cmd.Env = b.buildEnv()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	setProcessGroup(cmd)
	return cmd.Run()
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
