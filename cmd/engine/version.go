package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/placeos-go/engine/version"
)

// builtFrom is the engine source folder the binary was built from, set by the Makefile's build
// target (-ldflags "-X main.builtFrom=$(CURDIR)"). engineSource falls back on what the binary
// itself records when it is empty.
var builtFrom string

// printVersion runs `engine version`: the release, the build, and the engine source `engine new
// driver` points a new repository at.
func printVersion() {
	fmt.Printf("engine %s (%s %s/%s", version.Tag, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			fmt.Printf(", commit %s", rev)
			if modified == "true" {
				fmt.Print(" with uncommitted changes")
			}
		}
	}
	fmt.Println(")")
	if src := engineSource(); src != "" {
		fmt.Println("engine source:", src)
	} else {
		fmt.Println("engine source: not found (engine new driver writes no replace; give it --sdk-dir)")
	}
}

// engineSource is the engine source the binary was built from: serve's and dev's default
// --sdk-dir, and what a new driver repository's replace points at; "" when it cannot be found.
// One lookup for both, so that a binary copied out of its checkout (or installed) builds drivers
// against the same source `engine new` points them at. In order: the folder the Makefile
// recorded; the folder of this very file as the compiler saw it (a `go build` or `go run`
// without -trimpath, in a checkout or in the module cache after `go install …@version`); the
// checkout above the binary (bin/engine of a checkout built by hand with -trimpath); the module
// cache's copy of the release the binary was installed as (`go install -trimpath …@version`).
func engineSource() string {
	var candidates []string
	if builtFrom != "" {
		candidates = append(candidates, builtFrom)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		candidates = append(candidates, filepath.Dir(filepath.Dir(filepath.Dir(file)))) // …/cmd/engine/version.go
	}
	if exe, err := os.Executable(); err == nil {
		for dir := filepath.Dir(exe); ; dir = filepath.Dir(dir) {
			candidates = append(candidates, dir)
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path == version.Module && strings.HasPrefix(bi.Main.Version, "v") {
		if modcache := goModCache(); modcache != "" {
			candidates = append(candidates, filepath.Join(modcache, version.Module+"@"+bi.Main.Version))
		}
	}
	for _, c := range candidates {
		if dir, err := checkEngineSource(c); err == nil {
			return dir
		}
	}
	return ""
}

// checkEngineSource accepts a folder holding the engine module's go.mod, made absolute.
func checkEngineSource(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(filepath.Join(abs, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("%s is no engine source: %w", dir, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == version.Module {
			return abs, nil
		}
	}
	return "", errors.New(dir + " is no engine source: its go.mod is not module " + version.Module)
}

func goModCache() string {
	if v := os.Getenv("GOMODCACHE"); v != "" {
		return v
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
