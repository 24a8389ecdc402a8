package scaffold

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/placeos-go/engine/version"
)

// Result is what New did.
type Result struct {
	Plan
	Files []string // written, relative to Plan.Root, sorted
	// Commit is the new repository's first commit; "" when none was made (see Notes).
	Commit string
	// Notes are what New could not do, each with what to do instead.
	Notes []string
}

// New writes the driver Options describe (MakePlan decides where) and, for a new repository,
// its go.mod, go.sum and first commit. Once files are written it returns a Result even with an
// error: the error is a step that failed (go mod tidy), and the files stay for the author to
// finish by hand as the error says.
func New(ctx context.Context, o Options) (*Result, error) {
	p, err := MakePlan(o)
	if err != nil {
		return nil, err
	}
	files, err := p.Driver.Files()
	if err != nil {
		return nil, err
	}
	all := map[string][]byte{} // by slash path from the module's root
	for name, b := range files {
		all[path.Join(p.Driver.Path, name)] = b
	}
	r := &Result{Plan: *p}
	if p.Mode == NewRepo {
		if r.Notes, err = addRepoFiles(all, p, o); err != nil {
			return nil, err
		}
	}
	if err := write(p.topDir(), p.Root, all); err != nil {
		return nil, err
	}
	r.Files = slices.Sorted(maps.Keys(all))

	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	// A new repository needs its requirements written; a driver repository may need the
	// simulator's (x/crypto/ssh, gorilla/websocket). The engine's own go.mod has them all.
	if p.Mode == InDriverRepo || p.Mode == NewRepo && o.EngineSource != "" {
		if out, err := run(ctx, p.Root, append(env, "GOWORK=off"), "go", "mod", "tidy"); err != nil {
			return r, fmt.Errorf("go mod tidy in %s: %w\n%s\nthe driver is written; run `go mod tidy` there once this is fixed", p.Root, err, out)
		}
	}
	if p.Mode == NewRepo {
		r.Commit, r.Notes = commit(ctx, p.Root, env, p.Driver, r.Notes)
	}
	return r, nil
}

// addRepoFiles adds a new repository's own files to all: go.mod, .gitignore and README.md,
// and the engine source's go.sum. Without an engine source the go.mod has no replace and a
// note says what to do.
func addRepoFiles(all map[string][]byte, p *Plan, o Options) (notes []string, err error) {
	repo := Repo{Module: p.Module, EngineTag: o.EngineTag, EngineSource: o.EngineSource, GoVersion: goVersion()}
	if o.EngineSource != "" {
		data, err := os.ReadFile(filepath.Join(o.EngineSource, "go.mod"))
		if err != nil {
			return nil, fmt.Errorf("the engine source's go.mod: %w", err)
		}
		engine := parseGoMod(data)
		repo.GoVersion, repo.Requires = engine.goVersion, engine.requires
		if all["go.sum"], err = os.ReadFile(filepath.Join(o.EngineSource, "go.sum")); err != nil {
			return nil, fmt.Errorf("the engine source's go.sum: %w", err)
		}
	} else {
		notes = append(notes, fmt.Sprintf("the engine source this binary was built from was not found, so go.mod "+
			"requires the release %s with no replace: `go mod tidy` fetches it (when it is tagged and "+
			"reachable), or add `replace %s => /path/to/engine` to develop against a checkout (or "+
			"run `engine new` with --sdk-dir)", o.EngineTag, version.Module))
	}
	rf, err := repo.Files(p.Driver)
	if err != nil {
		return nil, err
	}
	maps.Copy(all, rf)
	return notes, nil
}

// write creates top (which MakePlan found absent or empty) and the files under root; on a
// failure it removes what it wrote.
func write(top, root string, files map[string][]byte) (err error) {
	existed := true
	if _, serr := os.Stat(top); errors.Is(serr, fs.ErrNotExist) {
		existed = false
	}
	defer func() {
		if err != nil && !existed {
			_ = os.RemoveAll(top)
		}
	}()
	for name, b := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(p), err)
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
		_, werr := f.Write(b)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write %s: %w", p, werr)
		}
	}
	return nil
}

// commit makes the new repository a git repository with one commit, since the engine builds
// drivers from git; what it cannot do becomes a note.
func commit(ctx context.Context, root string, env []string, d Driver, notes []string) (string, []string) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", append(notes, "git was not found, so the repository has no commit yet: the engine builds drivers from git "+
			"repositories, so `git init && git add -A && git commit` there once git is installed")
	}
	if out, err := run(ctx, root, env, "git", "init", "-q"); err != nil {
		return "", append(notes, fmt.Sprintf("git init failed (%v): %s", err, out))
	}
	if out, err := run(ctx, root, env, "git", "add", "-A"); err != nil {
		return "", append(notes, fmt.Sprintf("git add failed (%v): %s", err, out))
	}
	msg := fmt.Sprintf("%s: a new %s driver with its tests, made by engine new driver", d.Name, transportInfo[d.Transport].Title)
	if out, err := run(ctx, root, env, "git", "commit", "-q", "-m", msg); err != nil {
		return "", append(notes, fmt.Sprintf("git commit failed, so the repository has no commit yet (the engine "+
			"builds the committed HEAD): %s; commit once that is fixed", strings.TrimSpace(string(out))))
	}
	out, err := run(ctx, root, env, "git", "rev-parse", "--short", "HEAD")
	if err != nil {
		return "", append(notes, fmt.Sprintf("git rev-parse failed (%v): %s", err, out))
	}
	return strings.TrimSpace(string(out)), notes
}

func run(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// goVersion is this binary's Go release, the go directive of a new repository when there is no
// engine source to take its own from.
func goVersion() string {
	v, _, _ := strings.Cut(strings.TrimPrefix(runtime.Version(), "go"), " ")
	if v == "" || !strings.ContainsAny(v[:1], "0123456789") {
		return "1.26" // a development toolchain: the engine's minimum
	}
	return v
}
