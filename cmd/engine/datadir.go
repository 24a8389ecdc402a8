package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
)

// privatePerm are the permission bits nothing in the data directory keeps: the engine's user
// alone reads it. Raft's log and snapshots hold the model with every setting, repositories may
// be private source, built binaries run as the engine's user, and pid files and sidecars say
// what runs where.
const privatePerm fs.FileMode = 0o077

// privateDataDir creates the data directory readable by the engine's user only (0700) and takes
// group and other permissions away from whatever is already in it: a data directory from an
// engine that created it with wider modes, or touched by other tools. Every entry tightened is
// counted in one log line. An entry that cannot be changed (owned by someone else) is logged and
// left; only a data directory that cannot be created is an error.
func privateDataDir(dir string, log hclog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// The walk does not follow symbolic links, so a data directory that is one is walked where
	// it points; links inside are skipped (chmod would follow them out of the data directory).
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	var tightened, failed int
	var example string
	walkErr := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // gone meanwhile
		}
		perm := info.Mode().Perm()
		if perm&privatePerm == 0 {
			return nil
		}
		if err := os.Chmod(p, perm&^privatePerm); err != nil {
			failed++
			log.Warn("cannot make a data directory entry private to the engine's user", "path", p, "mode", perm.String(), "error", err)
			return nil
		}
		if tightened == 0 {
			example = fmt.Sprintf("%s was %s", p, perm)
		}
		tightened++
		return nil
	})
	if tightened > 0 {
		log.Warn("the data directory was readable beyond the engine's user: group and other permissions removed",
			"dir", dir, "entries", tightened, "example", example)
	}
	if walkErr != nil {
		log.Warn("could not check every data directory entry's permissions", "dir", dir, "error", walkErr)
	}
	if failed > 0 {
		log.Warn("some data directory entries stay readable beyond the engine's user", "dir", dir, "entries", failed)
	}
	return nil
}
