package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// go-plugin makes a folder named plugin-dir* in the temp dir for each driver process (its unix
// sockets: the driver's and the engine's callback socket) and removes it only in Client.Kill,
// which a killed engine never reaches, nor a launch whose process never started.
const (
	socketDirPrefix  = "plugin-dir"
	socketFilePrefix = "plugin" // go-plugin's os.CreateTemp(dir, "plugin") for each listener
)

var errNotSocketDir = errors.New("not a go-plugin socket folder")

// removeSocketDir removes dir if it is a go-plugin socket folder: named plugin-dir*, right in
// the temp dir (where go-plugin makes it, as the engine sets no other), a real folder of the
// engine's user, holding nothing but go-plugin's sockets; "" is no folder. The path may come from a pid file,
// which could have been edited: anything else is left alone and reported, and nothing outside
// the temp dir is opened (os.Root does not follow a link out of it).
func removeSocketDir(dir string) error {
	if dir == "" {
		return nil
	}
	tmp := filepath.Clean(os.TempDir())
	base := filepath.Base(dir)
	if filepath.Join(tmp, base) != dir || !strings.HasPrefix(base, socketDirPrefix) {
		return fmt.Errorf("%w: %q is not %s/%s*", errNotSocketDir, dir, tmp, socketDirPrefix)
	}
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return fmt.Errorf("open temp dir: %w", err)
	}
	defer root.Close()
	fi, err := root.Lstat(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%w: %s is not a folder of this user (%v)", errNotSocketDir, dir, fi.Mode())
	}
	sub, err := root.OpenRoot(base)
	if err != nil {
		return err
	}
	defer sub.Close()
	entries, err := fs.ReadDir(sub.FS(), ".")
	if err != nil {
		return err
	}
	// All or nothing: a single file that is not a socket of go-plugin's means the folder is not
	// what the pid file says, and none of it is touched.
	for _, e := range entries {
		if e.Type() != fs.ModeSocket || !strings.HasPrefix(e.Name(), socketFilePrefix) {
			return fmt.Errorf("%w: %s holds %s (%v)", errNotSocketDir, dir, e.Name(), e.Type())
		}
	}
	for _, e := range entries {
		if err := sub.Remove(e.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := root.Remove(base); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
