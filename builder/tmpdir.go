package builder

import (
	"os"
	"path/filepath"
	"strings"
)

// goTempPrefixes name what the go command and its linker make in their TMPDIR (the builder's
// builds/tmp): the work folder of one go build, and the linker's. With CGO_ENABLED=0 nothing else
// writes there.
var goTempPrefixes = []string{"go-build", "go-link-"}

func (b *Builder) tmpDir() string { return filepath.Join(b.buildsDir(), "tmp") }

// sweepTmp removes the go command's temp folders that a build killed with the engine left in
// builds/tmp: go removes its work folder when it ends, and a SIGKILLed one never does, so an
// interrupted link step's output would stay there for good. Only the real folders of those names
// go (os.RemoveAll does not follow the symlinks inside them); a builds/tmp that is not itself a
// real folder (a symlink to elsewhere) is not swept at all.
func (b *Builder) sweepTmp() {
	dir := b.tmpDir()
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		b.log.Warn("build temp folder is not a folder: not swept", "path", dir)
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.log.Warn("cannot read the build temp folder", "path", dir, "error", err)
		return
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || !isGoTemp(e.Name()) { // IsDir is false for a symlink to a folder
			continue
		}
		path := filepath.Join(dir, e.Name())
		if err := os.RemoveAll(path); err != nil {
			b.log.Warn("cannot remove a build's leftover temp folder", "path", path, "error", err)
			continue
		}
		removed = append(removed, e.Name())
	}
	if len(removed) > 0 {
		b.log.Debug("removed the temp folders of builds a previous engine left", "path", dir, "removed", removed)
	}
}

func isGoTemp(name string) bool {
	for _, p := range goTempPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
