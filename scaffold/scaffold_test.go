package scaffold

import (
	"bytes"
	"errors"
	"go/format"
	"go/parser"
	"go/token"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/version"
)

func TestCheckName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"projector", "pjlink2", "x"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for name, want := range map[string]string{
		"":                      "a driver name is needed",
		"Projector":             `try "projector"`,
		"my-display":            `try "mydisplay"`,
		"my_display":            `try "mydisplay"`,
		"../x":                  `try "x"`,
		"a/b":                   `try "ab"`,
		"2x":                    `try "x"`,
		"main":                  "collide",
		"settings":              "collide",
		"---":                   "lower-case letters and digits",
		strings.Repeat("a", 41): "longer than 40",
	} {
		if err := CheckName(name); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckName(%q) = %v, want an ErrInvalid with %q", name, err, want)
		}
	}
}

func TestParseTransport(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Transport{"tcp": TCP, "TCP": TCP, " udp ": UDP, "Http": HTTP, "ssh": SSH, "ws": WebSocket, "WebSocket": WebSocket, "logic": Logic} {
		if got, err := ParseTransport(in); err != nil || got != want {
			t.Errorf("ParseTransport(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := ParseTransport("serial")
	if err == nil || !strings.Contains(err.Error(), `"serial": want one of tcp, udp, http, ssh, websocket, logic`) {
		t.Fatalf("serial: %v", err)
	}
}

// TestMakePlan: where a driver goes, by the module around the working directory (or --dir).
func TestMakePlan(t *testing.T) {
	t.Parallel()
	engine := t.TempDir()
	testutil.WriteFile(t, filepath.Join(engine, "go.mod"), "module "+version.Module+"\n\ngo 1.26\n")
	repo := t.TempDir()
	testutil.WriteFile(t, filepath.Join(repo, "go.mod"), "module github.com/me/drivers\n\nrequire (\n\tgithub.com/x/y v1.0.0\n\t"+version.Module+" v0.1.0 // indirect\n)\n")
	other := t.TempDir()
	testutil.WriteFile(t, filepath.Join(other, "go.mod"), "module example.com/other\n")
	none := t.TempDir()
	testutil.WriteFile(t, filepath.Join(none, "full", "f"), "x")

	for _, c := range []struct {
		name                    string
		o                       Options
		mode                    Mode
		root, dir, module, path string
	}{
		{"engine", Options{WorkDir: filepath.Join(engine, "cmd")}, InEngine, engine, filepath.Join(engine, "examples/drivers/x"), version.Module, "examples/drivers/x"},
		{"engine --dir", Options{WorkDir: engine, Dir: "examples/more/x"}, InEngine, engine, filepath.Join(engine, "examples/more/x"), version.Module, "examples/more/x"},
		{"driver repo", Options{WorkDir: repo}, InDriverRepo, repo, filepath.Join(repo, "drivers/x"), "github.com/me/drivers", "drivers/x"},
		{"no module", Options{WorkDir: none}, NewRepo, filepath.Join(none, "x"), filepath.Join(none, "x/drivers/x"), "example.com/x", "drivers/x"},
		{"--module", Options{WorkDir: none, Module: "github.com/me/av"}, NewRepo, filepath.Join(none, "x"), filepath.Join(none, "x/drivers/x"), "github.com/me/av", "drivers/x"},
		{"--dir outside modules", Options{WorkDir: engine, Dir: filepath.Join(none, "repo")}, NewRepo, filepath.Join(none, "repo"), filepath.Join(none, "repo/drivers/x"), "example.com/x", "drivers/x"},
		{"a module without the engine", Options{WorkDir: other}, NewRepo, filepath.Join(other, "x"), filepath.Join(other, "x/drivers/x"), "example.com/x", "drivers/x"},
	} {
		c.o.Name, c.o.Transport = "x", TCP
		p, err := MakePlan(c.o)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if p.Mode != c.mode || p.Root != c.root || p.Dir != c.dir || p.Module != c.module || p.Driver.Path != c.path || p.Driver.Import != c.module+"/"+c.path {
			t.Errorf("%s: %s %s %s %s %+v", c.name, p.Mode, p.Root, p.Dir, p.Module, p.Driver)
		}
	}

	for _, c := range []struct {
		name string
		o    Options
		want string
	}{
		{"non-empty folder", Options{WorkDir: none, Name: "full"}, "exists and is not empty"},
		{"a file", Options{WorkDir: none, Dir: "full/f"}, "is not a folder"},
		{"--module in a module", Options{WorkDir: repo, Module: "example.com/y"}, "--module names a new repository"},
		{"bad module path", Options{WorkDir: none, Module: "not a path"}, "module path"},
		{"not importable", Options{WorkDir: engine, Dir: "examples/_hidden/x"}, `"_hidden" cannot be part of a Go import path`},
		{"testdata", Options{WorkDir: engine, Dir: "testdata/x"}, `"testdata" cannot be part`},
		{"bad transport", Options{WorkDir: none, Transport: "serial"}, "want one of"},
	} {
		if c.o.Name == "" {
			c.o.Name = "x"
		}
		if c.o.Transport == "" {
			c.o.Transport = TCP
		}
		if _, err := MakePlan(c.o); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an ErrInvalid with %q", c.name, err, c.want)
		}
	}
}

// TestRenderedFiles: every transport's files are the expected set, gofmt-clean Go in the right
// packages, with no template field left unfilled.
func TestRenderedFiles(t *testing.T) {
	t.Parallel()
	device := []string{"README.md", "dev.yaml", "main.go", "sim/main.go", "sim/xsim/doc.go", "sim/xsim/sim.go", "x.go", "x_test.go"}
	for _, tr := range Transports {
		d := Driver{Name: "x", Transport: tr, Import: "example.com/r/drivers/x", Path: "drivers/x"}
		files, err := d.Files()
		if err != nil {
			t.Fatalf("%s: %v", tr, err)
		}
		rf, err := Repo{Module: "example.com/r", GoVersion: "1.26", EngineTag: version.Tag, EngineSource: "/src/my engine", Requires: []string{"a.example/b v1.0.0"}}.Files(d)
		if err != nil {
			t.Fatalf("%s: %v", tr, err)
		}
		var names []string
		for name := range files {
			names = append(names, name)
		}
		slices.Sort(names)
		want := device
		if tr == Logic {
			want = []string{"README.md", "dev.yaml", "main.go", "x.go", "x_test.go"}
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: files %q, want %q", tr, names, want)
		}
		for name, b := range files {
			if bytes.Contains(b, []byte("<no value>")) || bytes.Contains(b, []byte("{{")) {
				t.Errorf("%s %s: a template field is left unfilled:\n%s", tr, name, b)
			}
			if !strings.HasSuffix(name, ".go") {
				continue
			}
			if formatted, err := format.Source(b); err != nil || !bytes.Equal(formatted, b) {
				t.Errorf("%s %s is not gofmt-clean (%v)", tr, name, err)
			}
			f, err := parser.ParseFile(token.NewFileSet(), name, b, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatalf("%s %s: %v", tr, name, err)
			}
			pkg := "main"
			if strings.HasPrefix(name, "sim/xsim/") {
				pkg = "xsim"
			}
			if f.Name.Name != pkg {
				t.Errorf("%s %s: package %s, want %s", tr, name, f.Name.Name, pkg)
			}
		}
		checkDevFile(t, tr, files["dev.yaml"])
		mod := string(rf["go.mod"])
		for _, w := range []string{"module example.com/r\n", "require " + version.Module + " " + version.Tag + "\n", "\ta.example/b v1.0.0 // indirect\n", `replace ` + version.Module + ` => "/src/my engine"` + "\n"} {
			if !strings.Contains(mod, w) {
				t.Errorf("%s: go.mod lacks %q:\n%s", tr, w, mod)
			}
		}
		if !strings.Contains(string(files["README.md"]), "go test ./drivers/x/...") || !strings.Contains(string(rf["README.md"]), "drivers/x") {
			t.Errorf("%s: the READMEs do not say how to test the driver", tr)
		}
	}
}

// checkDevFile: dev.yaml is a module as engine dev --watch reads it (strictly: a model file's
// module fields with the driver's module_name and role), at the address the simulator listens
// on by default.
func checkDevFile(t *testing.T, tr Transport, b []byte) {
	t.Helper()
	var spec struct {
		ModuleName string `json:"module_name"`
		Role       string `json:"role"`
		model.Module
	}
	if err := yaml.UnmarshalStrict(b, &spec); err != nil {
		t.Fatalf("%s dev.yaml: %v\n%s", tr, err, b)
	}
	info := transportInfo[tr]
	addr := net.JoinHostPort(spec.IP, strconv.Itoa(spec.Port))
	if u, err := url.Parse(spec.URI); err == nil && spec.URI != "" {
		addr = u.Host
	}
	if spec.ModuleName != "X" || spec.Role != info.Role || tr != Logic && addr != info.SimAddr || len(spec.Settings) == 0 {
		t.Errorf("%s dev.yaml: %+v (address %s), want module X, role %s, the simulator's address %s and settings", tr, spec, addr, info.Role, info.SimAddr)
	}
}
