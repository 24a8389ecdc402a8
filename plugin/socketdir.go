package plugin

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
)

// ownSocketDir is the socket folder Serve made because the host gave none ("" when the host
// did). A host that runs the driver with go-plugin's own runner (a test, a tool) sets no
// PLUGIN_UNIX_SOCKET_DIR, and go-plugin then puts the driver's socket straight in the temp dir,
// where it stays whenever the process ends without closing it: Terminate ends it with os.Exit.
// In a folder of its own the socket can be removed on those exits (Exit, a host gone, SIGTERM,
// SIGHUP); a host that gives the folder removes it itself (the engine's supervisor does, also
// after a SIGKILL).
var ownSocketDir struct {
	once sync.Once
	path string
}

// maxSocketPath is the longest path a unix socket can bind on Linux (108 bytes with the NUL).
const maxSocketPath = 107

// makeSocketDir gives the process a socket folder of its own when the host gave none, unless its
// path would make the socket's too long to bind: then go-plugin's socket stays in the temp dir.
func makeSocketDir(logger hclog.Logger) {
	// plugin-dir and pluginNNN: os.MkdirTemp and os.CreateTemp add up to 10 digits.
	if os.Getenv(goplugin.EnvUnixSocketDir) != "" || len(os.TempDir())+len("/plugin-dir/plugin")+20 > maxSocketPath {
		return
	}
	dir, err := os.MkdirTemp("", "plugin-dir")
	if err == nil {
		err = os.Setenv(goplugin.EnvUnixSocketDir, dir)
	}
	if err != nil {
		logger.Warn("serving on a socket in the temp dir, which an exit may leave there", "error", err)
		return
	}
	ownSocketDir.path = dir
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		removeSocketDir()
		// Die of the signal as without the handler, so the host sees the same exit.
		signal.Reset(s)
		_ = syscall.Kill(os.Getpid(), s.(syscall.Signal))
	}()
}

func removeSocketDir() {
	ownSocketDir.once.Do(func() {
		if ownSocketDir.path != "" {
			_ = os.RemoveAll(ownSocketDir.path)
		}
	})
}

// Exit ends a driver process served by Serve with code, first removing what Serve made in the
// temp dir. Driver code that must end the process uses it rather than os.Exit.
func Exit(code int) {
	removeSocketDir()
	os.Exit(code)
}
