package builder

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
)

// addZeros commits a file of size zero bytes (plus a tag that keeps blobs apart) at rel.
func addZeros(t *testing.T, dir, rel string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return commitAll(t, dir, "add "+rel)
}

// allocated is what the process allocated while fn ran. Only a loose bound is asserted on it:
// the test runs alone (not parallel), but the runtime and finished tests allocate too.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func wantTooLarge(t *testing.T, err error, words ...string) {
	t.Helper()
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, errkind.BadRequest) {
		t.Fatalf("got %v, want ErrTooLarge (a bad request)", err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
}

// TestBuildExportsOnlyTheDriverModule: a large file beside the driver's module is never
// exported. The module is drivers/ (its go.mod is there), the file is in assets/; were it
// exported, the export would pass MaxExportBytes.
func TestBuildExportsOnlyTheDriverModule(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src, _ := newDriverRepo(t)
	runGit(t, src, "mv", "go.mod", "go.sum", "drivers/")
	commitAll(t, src, "module in drivers/")
	head := addZeros(t, src, "assets/video.bin", 3<<20)

	b := newBuilder(t, t.TempDir(), func(c *Config) { c.MaxFileBytes, c.MaxExportBytes = 4<<20, 2<<20 })
	bin, err := b.Build(ctx, repoOf("nested", src), "drivers/display", head)
	if err != nil {
		t.Fatalf("build of drivers/display, module drivers/: %v", err)
	}
	if md := metadata(t, bin.Path); !strings.Contains(md, `"power"`) {
		t.Fatalf("metadata of the built driver: %s", md)
	}
}

// TestExportLimits: each export limit refuses a commit over it with an error naming the limit
// and the file, before the compiler runs.
func TestExportLimits(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src, head := newDriverRepo(t) // go.mod, go.sum, drivers/display/{display,main}.go
	for _, tt := range []struct {
		name  string
		cfg   func(*Config)
		words []string
	}{
		{"files", func(c *Config) { c.MaxExportFiles = 3 }, []string{"MaxExportFiles (3) at go.sum"}},
		{"bytes", func(c *Config) { c.MaxExportBytes = 1 << 10 }, []string{"MaxExportBytes (1024 bytes) at drivers/display/display.go"}},
		{"file", func(c *Config) { c.MaxFileBytes = 1 << 10 }, []string{"drivers/display/display.go is 4931 bytes, over MaxFileBytes (1024 bytes)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A file over MaxFileBytes is refused by the clone already: the clone is made first.
			data := t.TempDir()
			if _, err := newBuilder(t, data, nil).Sync(ctx, repoOf("r", src)); err != nil {
				t.Fatal(err)
			}
			b := newBuilder(t, data, tt.cfg)
			_, err := b.Build(ctx, repoOf("r", src), "drivers/display", head)
			wantTooLarge(t, err, tt.words...)
			if s := b.Stats(); s.Builds != 0 {
				t.Fatalf("the compiler ran: %+v", s)
			}
		})
	}
}

// TestBuildRefusesAHugeFileWithoutReadingIt is the red team's repository (finding 4): a tiny
// driver beside a large file of zeros in one module, in a clone made before the limit was
// lowered. The build fails naming the file and the limit, without reading the file; under the
// default limits the build exports it without holding it in memory.
func TestBuildRefusesAHugeFileWithoutReadingIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const size = 40 << 20
	src, _ := newDriverRepo(t)
	head := addZeros(t, src, "drivers/display/blob.bin", size)
	data := t.TempDir()
	if _, err := newBuilder(t, data, nil).Sync(ctx, repoOf("big", src)); err != nil {
		t.Fatal(err)
	}

	b := newBuilder(t, data, func(c *Config) { c.MaxFileBytes = 1 << 20 })
	var err error
	n := allocated(func() { _, err = b.Build(ctx, repoOf("big", src), "drivers/display", head) })
	wantTooLarge(t, err, "drivers/display/blob.bin is 41943040 bytes", "MaxFileBytes (1048576 bytes)")
	if n > size/2 {
		t.Fatalf("the refused build allocated %d MiB for a %d MiB file", n>>20, size>>20)
	}
	st, ok := b.BuildStatus("drivers/display", head)
	if !ok || st.State != BuildFailed || !strings.Contains(st.Error, "blob.bin") {
		t.Fatalf("build status %+v, want failed naming blob.bin", st)
	}

	// Under the default limits the file is exported, streamed from the pack to disk.
	b = newBuilder(t, data, nil)
	n = allocated(func() { _, err = b.Rebuild(ctx, repoOf("big", src), "drivers/display", head) })
	if err != nil {
		t.Fatalf("build under the default limits: %v", err)
	}
	if n > size/2 {
		t.Fatalf("the build allocated %d MiB exporting a %d MiB file", n>>20, size>>20)
	}
}

// TestCloneRefusesAHugeObject: the clone checks the pack's object sizes before go-git indexes
// it (which would hold the whole object in memory): 1.3 MiB of repository that unpacks to a
// huge file is refused, the engine allocating a fraction of it, and no clone is left.
func TestCloneRefusesAHugeObject(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const size = 64 << 20
	src, _ := newDriverRepo(t)
	addZeros(t, src, "blob.bin", size)
	data := t.TempDir()
	b := newBuilder(t, data, func(c *Config) { c.MaxFileBytes = 1 << 20 })
	var err error
	n := allocated(func() { _, err = b.Sync(ctx, repoOf("big", src)) })
	if !errors.Is(err, ErrRepositoryUnavailable) || !strings.Contains(err.Error(), "MaxFileBytes (1048576 bytes)") {
		t.Fatalf("clone: %v, want unavailable naming MaxFileBytes", err)
	}
	if n > size/2 {
		t.Fatalf("the refused clone allocated %d MiB for a %d MiB object", n>>20, size>>20)
	}
	if _, err := os.Stat(filepath.Join(data, "repositories", "big")); !os.IsNotExist(err) {
		t.Fatalf("a refused clone is on disk: %v", err)
	}
	if st, _ := b.RepoStatus("big"); st.Cloned || !strings.Contains(st.LastError, "MaxFileBytes") {
		t.Fatalf("status %+v", st)
	}
	assertNoPackLeft(t, data)
}

// TestFetchPackLimits: a fetch bringing more than MaxPackBytes — as sent, or once unpacked — is
// refused, and the clone keeps what it had.
func TestFetchPackLimits(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, tt := range []struct {
		name string
		add  func(t *testing.T, dir string)
		word string
	}{
		{"sent", func(t *testing.T, dir string) {
			// Random bytes do not compress: the pack as sent is over the limit.
			rnd := make([]byte, 600<<10)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range rnd {
				rnd[i] = byte(r.Uint32())
			}
			testutil.WriteFile(t, filepath.Join(dir, "random.bin"), string(rnd))
			commitAll(t, dir, "random")
		}, "the pack is larger than MaxPackBytes (524288 bytes)"},
		{"unpacked", func(t *testing.T, dir string) {
			for i := range 3 {
				addZeros(t, dir, fmt.Sprintf("zeros%d.bin", i), 200<<10)
			}
		}, "the pack unpacks to more than MaxPackBytes (524288 bytes)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src, head := newDriverRepo(t)
			data := t.TempDir()
			b := newBuilder(t, data, func(c *Config) { c.MaxPackBytes = 512 << 10 })
			if _, err := b.Sync(ctx, repoOf("r", src)); err != nil {
				t.Fatal(err)
			}
			tt.add(t, src)
			_, err := b.Sync(ctx, repoOf("r", src))
			wantTooLarge(t, err, tt.word)
			if st, _ := b.RepoStatus("r"); st.Head != head || !strings.Contains(st.LastError, "MaxPackBytes") {
				t.Fatalf("status %+v, want the head before the refused fetch", st)
			}
			assertNoPackLeft(t, data)
		})
	}
}

// assertNoPackLeft fails t if a received pack was left waiting in builds/tmp.
func assertNoPackLeft(t *testing.T, data string) {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(data, "builds", "tmp", "pack.tmp-*"))
	if err != nil || len(left) > 0 {
		t.Fatalf("received packs left: %v %v", left, err)
	}
}

// TestExportStopsWithItsContext: an export whose build timed out writes nothing more.
func TestExportStopsWithItsContext(t *testing.T) {
	t.Parallel()
	src, head := newDriverRepo(t)
	data := t.TempDir()
	b := newBuilder(t, data, nil)
	if _, err := b.Sync(context.Background(), repoOf("r", src)); err != nil {
		t.Fatal(err)
	}
	repo, err := b.openClone(filepath.Join(data, "repositories", "r"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := t.TempDir()
	_, err = exportTree(ctx, repo, head, "drivers/display", dst, exportLimits{fileBytes: 1 << 20, totalBytes: 1 << 20, files: 100})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("export with its context ended: %v", err)
	}
	if entries, _ := os.ReadDir(dst); len(entries) != 0 {
		t.Fatalf("export wrote %d entries after its context ended", len(entries))
	}
}

// TestUntrackedRepositoryIsReleased: a repository SetRepositories no longer lists drops its
// go-git handle (and the caches it holds), and builds from it again on the next use.
func TestUntrackedRepositoryIsReleased(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src, head := newDriverRepo(t)
	b := newBuilder(t, t.TempDir(), nil)
	r := repoOf("r", src)
	if _, err := b.Sync(ctx, r); err != nil {
		t.Fatal(err)
	}
	b.SetRepositories(nil)
	b.mu.Lock()
	st := b.repos["r"]
	b.mu.Unlock()
	if err := st.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	held := st.repo != nil
	st.release()
	if held {
		t.Fatal("an untracked repository keeps its go-git handle")
	}
	if _, err := b.Build(ctx, r, "drivers/display", head); err != nil {
		t.Fatalf("build from the released repository: %v", err)
	}
}

// TestDeltaTargetSize: a delta's size is the second varint at the head of its data (the first is
// its base's); a delta of a few bytes may make a huge object.
func TestDeltaTargetSize(t *testing.T) {
	t.Parallel()
	// base 300 (0xac 0x02), result 1 GiB (0x80 0x80 0x80 0x80 0x04), then instructions.
	if n, err := deltaTargetSize([]byte{0xac, 0x02, 0x80, 0x80, 0x80, 0x80, 0x04, 0x91}); err != nil || n != 1<<30 {
		t.Fatalf("got %d, %v; want 1 GiB", n, err)
	}
	for _, bad := range [][]byte{nil, {0x05}, {0x05, 0x80}, {0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if n, err := deltaTargetSize(bad); err == nil {
			t.Errorf("% x: got %d, want an error", bad, n)
		}
	}
}
