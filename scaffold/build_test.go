package scaffold

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/version"
)

// TestEveryTransportInTheEngineCheckout writes a driver of every transport the way `engine new
// driver` does inside the engine's checkout (examples/drivers/NAME, in the engine module), then
// runs go vet and go test on them and builds their binaries, with no network: they compile and
// pass as written.
//
// The checkout is a copy of the engine's go.mod, go.sum and the packages a driver imports (sdk,
// sdk/sdktest, examples/simtcp and what they import), so the test writes nothing into the real
// one.
func TestEveryTransportInTheEngineCheckout(t *testing.T) {
	t.Parallel()
	root := fakeCheckout(t)
	var pkgs []string
	for _, tr := range Transports {
		name := string(tr) + "drv"
		r, err := New(context.Background(), Options{Name: name, Transport: tr, WorkDir: filepath.Join(root, "sdk")})
		if err != nil {
			t.Fatalf("%s: %v", tr, err)
		}
		if r.Mode != InEngine || r.Dir != filepath.Join(root, "examples", "drivers", name) || r.Driver.Import != version.Module+"/examples/drivers/"+name {
			t.Fatalf("%s: planned %+v", tr, r.Plan)
		}
		if len(r.Notes) > 0 || r.Commit != "" {
			t.Fatalf("%s: in the engine's checkout New should neither note nor commit: %q %q", tr, r.Notes, r.Commit)
		}
		pkgs = append(pkgs, "./examples/drivers/"+name)
	}
	goCmd(t, root, "vet", "./examples/...")
	out := goCmd(t, root, "test", "-count=1", "./examples/...")
	for _, p := range pkgs {
		if !strings.Contains(out, "ok  \t"+version.Module+strings.TrimPrefix(p, ".")+"\t") {
			t.Errorf("go test did not pass %s:\n%s", p, out)
		}
	}
	bin := t.TempDir()
	goCmd(t, root, append([]string{"build", "-o", bin + "/"}, pkgs...)...)
	for _, tr := range Transports {
		exe := filepath.Join(bin, string(tr)+"drv")
		meta, err := exec.Command(exe, "--metadata").Output()
		if err != nil || !strings.Contains(string(meta), `"power`) {
			t.Errorf("%s --metadata: %v\n%s", exe, err, meta)
		}
	}
	// The house rules of examples/...: a package comment on every main, a doc.go in every other.
	list := goCmd(t, root, "list", "-f", "{{.Name}} {{.ImportPath}} {{.Doc}} {{range .GoFiles}}{{if eq . \"doc.go\"}}DOC{{end}}{{end}}", "./examples/...")
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "main" && !strings.HasSuffix(line, "DOC") {
			t.Errorf("package without a package comment or doc.go: %s", line)
		}
	}
}

// fakeCheckout is a folder holding the engine module's go.mod and go.sum and a copy of the
// packages of ours that a driver and its simulator need.
func fakeCheckout(t *testing.T) string {
	t.Helper()
	src, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dirs := goCmd(t, src, "list", "-deps", "-f", "{{if .Module}}{{if eq .Module.Path \""+version.Module+"\"}}{{.Dir}}{{end}}{{end}}", "./sdk/sdktest", "./examples/simtcp")
	root := t.TempDir()
	copyFile(t, filepath.Join(src, "go.mod"), filepath.Join(root, "go.mod"))
	copyFile(t, filepath.Join(src, "go.sum"), filepath.Join(root, "go.sum"))
	for _, dir := range strings.Fields(dirs) {
		rel, err := filepath.Rel(src, dir)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
				copyFile(t, filepath.Join(dir, e.Name()), filepath.Join(root, rel, e.Name()))
			}
		}
	}
	return root
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, to, string(b))
}

// goCmd runs the go tool in dir with no network (the module cache has what the engine
// builds with) and no workspace, and returns its output; it fails the test on an error.
func goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOWORK=off", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}
