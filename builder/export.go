package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// exportLimits bound one export (Config.MaxFileBytes, MaxExportBytes, MaxExportFiles).
type exportLimits struct {
	fileBytes, totalBytes int64
	files                 int
}

// exportTree writes into dst, which must be empty, the Go module that holds driverPath at
// commit: the subtree of the nearest folder at or above driverPath with a go.mod, at the same
// place under dst. Nothing else of the commit is needed to build the driver (the go tool reads
// no file outside the module but its dependencies), and a repository may hold anything beside
// it. Blobs are streamed to disk, each file's size is checked before it is read, and the files
// and bytes written are bounded by lim; ctx is checked between files.
//
// It writes regular files only: symlinks and submodules are skipped (Go's module zips drop them
// too), and since no symlink is ever created and every name is checked, nothing can be written
// outside dst.
func exportTree(ctx context.Context, repo *git.Repository, commit, driverPath, dst string, lim exportLimits) (skipped int, err error) {
	c, err := repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return 0, fmt.Errorf("%w: commit %s: %v", ErrRevisionNotFound, commit, err)
	}
	root, err := c.Tree()
	if err != nil {
		return 0, fmt.Errorf("tree of %s: %w", commit, err)
	}
	modRoot, err := moduleDir(root, driverPath)
	if err != nil {
		return 0, err
	}
	sub := root
	if modRoot != "." {
		if sub, err = root.Tree(modRoot); err != nil {
			return 0, fmt.Errorf("tree of %s at %s: %w", modRoot, short(commit), err)
		}
	}
	walker := object.NewTreeWalker(sub, true, nil)
	defer walker.Close()
	var files int
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return skipped, err
		}
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			return skipped, nil
		}
		name = path.Join(modRoot, name)
		if err != nil {
			return skipped, fmt.Errorf("read %s at %s: %w", name, short(commit), err)
		}
		if entry.Mode == filemode.Dir {
			continue
		}
		if !safeTreePath(name) {
			return skipped, fmt.Errorf("unsafe path %q in commit %s", name, short(commit))
		}
		perm, ok := exportMode(entry.Mode)
		if !ok {
			skipped++
			continue
		}
		blob, err := repo.BlobObject(entry.Hash)
		if err != nil {
			return skipped, fmt.Errorf("read %s at %s: %w", name, short(commit), err)
		}
		files++
		total += blob.Size
		switch {
		case blob.Size > lim.fileBytes:
			return skipped, fmt.Errorf("%w: %s is %d bytes, over MaxFileBytes (%d bytes)", ErrTooLarge, name, blob.Size, lim.fileBytes)
		case total > lim.totalBytes:
			return skipped, fmt.Errorf("%w: the module %s passes MaxExportBytes (%d bytes) at %s", ErrTooLarge, modRoot, lim.totalBytes, name)
		case files > lim.files:
			return skipped, fmt.Errorf("%w: the module %s passes MaxExportFiles (%d) at %s", ErrTooLarge, modRoot, lim.files, name)
		}
		if err := writeBlob(blob, filepath.Join(dst, filepath.FromSlash(name)), perm); err != nil {
			return skipped, fmt.Errorf("export %s: %w", name, err)
		}
	}
}

// moduleDir is the folder of the nearest go.mod at or above driverPath in root ("." for the
// repository's root), after checking that driverPath is a folder.
func moduleDir(root *object.Tree, driverPath string) (string, error) {
	if driverPath != "." {
		if e, err := root.FindEntry(driverPath); err != nil || e.Mode != filemode.Dir {
			return "", fmt.Errorf("%w: %q is not a folder at this commit", ErrInvalid, driverPath)
		}
	}
	for dir := driverPath; ; dir = path.Dir(dir) {
		if e, err := root.FindEntry(path.Join(dir, "go.mod")); err == nil {
			if _, ok := exportMode(e.Mode); ok {
				return dir, nil
			}
		}
		if dir == "." {
			return "", fmt.Errorf("%w: %s", ErrNoModule, driverPath)
		}
	}
}

// exportMode is the permission an exported file of mode m gets; false for what is not exported.
// The engine's user alone reads a build's source, as it does the clone it came from.
func exportMode(m filemode.FileMode) (os.FileMode, bool) {
	switch m {
	case filemode.Executable:
		return 0o700, true
	case filemode.Regular, filemode.Deprecated:
		return 0o600, true
	}
	return 0, false
}

// writeBlob streams blob into a new file at target: exactly its recorded size, never more.
func writeBlob(blob *object.Blob, target string, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	rd, err := blob.Reader()
	if err != nil {
		return err
	}
	defer rd.Close()
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(out, rd, blob.Size); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func safeTreePath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.Contains(p, "\\") {
		return false
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." || c == "." || strings.EqualFold(c, ".git") {
			return false
		}
	}
	return true
}
