package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// The driver author's loop (issue 14):
//
//	go test -run '^$' -bench DevWatch -benchtime 1x ./scripts/bench/
//
// BenchmarkDevWatchSaveToAnswer runs `engine dev --watch` on a standalone driver repository
// (the example display driver with one function more, answer()) and measures, for each of
// devWatchSaves saves that change answer()'s value, the time from the save to the first execute
// answering the new value (s-save-to-answer, the median). The baseline is the compiler's share of
// it: `go build` of the same folder after the same kind of edit (s-go-build, the median), which
// no watch can beat.

// devWatchSaves is how many saves the median is taken over.
const devWatchSaves = 5

func BenchmarkDevWatchSaveToAnswer(b *testing.B) {
	runOnce(b, func(b *testing.B) (string, []clusterMetric) {
		redis := testutil.StartRedis(b)
		drv := enginetest.NewWatchedDriver(b, "v0")
		n := enginetest.StartDevWatch(b, enginetest.Config{Redis: redis.URL}, drv, "v0")
		n.WaitReady() // the demo's own drivers are built: nothing else compiles from here on

		// Interleaved, so that both sides see the same load on a shared machine. The plain build
		// compiles a copy with an answer of its own: the same work as the watch's build, and the
		// watched folder is left alone.
		var loop, build []time.Duration
		for i := 1; i <= devWatchSaves; i++ {
			loop = append(loop, enginetest.SaveToAnswer(b, n, drv, fmt.Sprintf("v%d", i)))
			plain := drv.Copy()
			plain.SetAnswer(fmt.Sprintf("plain-%d", i))
			build = append(build, goBuild(b, plain.Dir))
		}
		l, g := enginetest.Median(loop), enginetest.Median(build)
		table := fmt.Sprintf("\n| %d saves, median | save → new answer (engine dev --watch) | go build of the folder | overhead |\n|---|---|---|---|\n"+
			"| | %.2f s | %.2f s | %.2f s |\n\n", devWatchSaves, l.Seconds(), g.Seconds(), (l - g).Seconds())
		return table, []clusterMetric{{l.Seconds(), "s-save-to-answer"}, {g.Seconds(), "s-go-build"}}
	})
}

// goBuild times a plain `go build` of a driver folder, the way its author would run it (the
// engine's replace pointed at this checkout, in a copy of go.mod).
func goBuild(b *testing.B, dir string) time.Duration {
	b.Helper()
	root, err := testutil.ModuleRoot()
	if err != nil {
		b.Fatal(err)
	}
	mod := filepath.Join(b.TempDir(), "go.mod")
	src, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		b.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(mod, src, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(mod), "go.sum"), sum, 0o600); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(args ...string) {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	run("mod", "edit", "-replace=github.com/placeos-go/engine="+root, mod)
	began := time.Now()
	run("build", "-trimpath", "-modfile="+mod, "-o", filepath.Join(b.TempDir(), "driver"), ".")
	return time.Since(began)
}
