package main

import (
	"context"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Polling rather than inotify: fsnotify is not among the engine's dependencies, and a driver
// folder holds a handful of files, so a scan costs microseconds.
const (
	// watchEvery is how often the folder is scanned: it bounds how late a save is noticed.
	watchEvery = 100 * time.Millisecond
	// watchQuiet is how long the folder must stay unchanged before a build starts, so that an
	// editor's save burst (temporary file, rename, chmod, gofmt on save) makes one build.
	watchQuiet = 100 * time.Millisecond
)

// stamp is what a scan keeps of a file to notice it changed.
type stamp struct {
	size int64
	mod  time.Time
}

// sourceFiles is the state of the files a driver's binary is built from: the non-test .go files
// of dir and its subfolders (not hidden, not editor temporaries, not testdata or another
// module), and go.mod and go.sum of the module at modRoot.
func sourceFiles(dir, modRoot string) (map[string]stamp, error) {
	out := map[string]stamp{}
	add := func(p string, info fs.FileInfo) { out[p] = stamp{info.Size(), info.ModTime()} }
	for _, f := range []string{"go.mod", "go.sum"} {
		if info, err := os.Stat(filepath.Join(modRoot, f)); err == nil {
			add(filepath.Join(modRoot, f), info)
		}
	}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // a file removed during the scan, or unreadable: not part of the build
		}
		name := e.Name()
		if e.IsDir() {
			if p != dir && (ignoredName(name) || name == "testdata" || isFile(filepath.Join(p, "go.mod"))) {
				return filepath.SkipDir
			}
			return nil
		}
		if ignoredName(name) || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		if info, err := e.Info(); err == nil {
			add(p, info)
		}
		return nil
	})
	return out, err
}

// ignoredName: hidden files and folders, what the go tool ignores ("_" prefix), and editor
// temporaries (.#x.go, #x.go#, x.go~, .x.go.swp: only the first two end in ".go", and both
// start with a character kept out here).
func ignoredName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || strings.HasPrefix(name, "#")
}

func isFile(p string) bool {
	info, err := os.Stat(p)
	return err == nil && !info.IsDir()
}

// change is a settled set of saves: the files changed, added or removed, and when the last of
// them was written (the save time, for the save-to-serving figure).
type change struct {
	files []string
	saved time.Time
}

// folderWatch notices saves in a driver folder by polling.
type folderWatch struct {
	dir, modRoot string
	seen         map[string]stamp // the files as of the last change returned
}

func newFolderWatch(dir, modRoot string) (*folderWatch, error) {
	seen, err := sourceFiles(dir, modRoot)
	if err != nil {
		return nil, err
	}
	return &folderWatch{dir: dir, modRoot: modRoot, seen: seen}, nil
}

// next waits for the next settled change and returns it; scanErr is told of a folder that cannot
// be read (removed, say), once per spell, while the watch goes on waiting for it.
func (w *folderWatch) next(ctx context.Context, scanErr func(error)) (change, error) {
	failing := false
	scan := func() (map[string]stamp, bool) {
		files, err := sourceFiles(w.dir, w.modRoot)
		if err != nil && !failing {
			scanErr(err)
		}
		failing = err != nil
		return files, err == nil
	}
	for {
		if err := sleepCtx(ctx, watchEvery); err != nil {
			return change{}, err
		}
		cur, ok := scan()
		if !ok || maps.EqualFunc(cur, w.seen, stamp.equal) {
			continue
		}
		for { // settle: until a scan after the quiet time finds what the one before found
			if err := sleepCtx(ctx, watchQuiet); err != nil {
				return change{}, err
			}
			again, ok := scan()
			if ok && maps.EqualFunc(again, cur, stamp.equal) {
				break
			}
			if ok {
				cur = again
			}
		}
		c := diff(w.seen, cur)
		w.seen = cur
		return c, nil
	}
}

func (s stamp) equal(o stamp) bool { return s.size == o.size && s.mod.Equal(o.mod) }

// diff names the files that differ between two scans, sorted, and when the last of them was
// written.
func diff(before, after map[string]stamp) change {
	c := change{}
	for p, s := range after {
		if old, ok := before[p]; !ok || !old.equal(s) {
			c.files = append(c.files, p)
			if s.mod.After(c.saved) {
				c.saved = s.mod
			}
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			c.files = append(c.files, p) // removed
		}
	}
	if c.saved.IsZero() {
		c.saved = time.Now() // only removals: they happened no later than now
	}
	slices.Sort(c.files)
	return c
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
