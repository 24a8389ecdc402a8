package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cgroups is the engine's delegated cgroup v2 group, in which every driver process gets a child
// group of its own: memory.max there limits the resident memory of the driver and everything it
// starts, memory.events counts its OOM kills, and cgroup.kill ends every process in it, however
// it left the driver's process group. Used only where the engine's own group is delegated to it
// (systemd Delegate=yes, which marks the group with the xattr trusted.delegate or
// user.delegate): moving processes around a group systemd manages for itself would confuse it.
// Elsewhere (cgroup v1, a container's read-only /sys/fs/cgroup, an undelegated group) drivers get
// RLIMIT_DATA instead (limitMemory).
type cgroups struct {
	// dir is the group the driver groups are made in (<engine's group>/drivers).
	dir string
}

// cgroupRoot is where the cgroup v2 hierarchy is mounted.
const cgroupRoot = "/sys/fs/cgroup"

// setupCgroups prepares the delegated group for drivers, or says why it cannot (nil, reason).
// root is the cgroup2 mount; selfCgroup the content of /proc/self/cgroup.
func setupCgroups(root string, selfCgroup []byte) (*cgroups, string) {
	line := strings.TrimSpace(string(selfCgroup))
	path, ok := strings.CutPrefix(line, "0::")
	if !ok || strings.Contains(line, "\n") {
		return nil, "not a cgroup v2 (unified) hierarchy"
	}
	own := filepath.Join(root, path)
	if !delegated(own) {
		return nil, "the engine's cgroup " + path + " is not delegated to it (systemd: Delegate=yes)"
	}
	controllers, err := os.ReadFile(filepath.Join(own, "cgroup.controllers"))
	if err != nil || !hasWord(controllers, "memory") {
		return nil, "the memory controller is not available in " + path
	}
	// A group with processes cannot hand controllers to child groups ("no internal processes"):
	// the engine moves itself into a leaf group of its own first.
	engine := filepath.Join(own, "engine")
	drivers := filepath.Join(own, "drivers")
	steps := []func() error{
		func() error { return mkdir(engine) },
		func() error { return write(filepath.Join(engine, "cgroup.procs"), strconv.Itoa(os.Getpid())) },
		func() error { return write(filepath.Join(own, "cgroup.subtree_control"), "+memory") },
		func() error { return mkdir(drivers) },
		func() error { return write(filepath.Join(drivers, "cgroup.subtree_control"), "+memory") },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err.Error()
		}
	}
	c := &cgroups{dir: drivers}
	c.killLeftGroups()
	return c, ""
}

// killLeftGroups ends the driver groups an engine that was killed left behind, with everything
// in them.
func (c *cgroups) killLeftGroups() {
	entries, _ := os.ReadDir(c.dir)
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "driver-") {
			(&driverGroup{dir: filepath.Join(c.dir, e.Name()), fd: -1}).kill()
		}
	}
}

// delegated reports whether systemd delegated the group at dir (Delegate=yes).
func delegated(dir string) bool {
	for _, attr := range []string{"trusted.delegate", "user.delegate"} {
		buf := make([]byte, 8)
		if n, err := unix.Getxattr(dir, attr, buf); err == nil && string(buf[:n]) == "1" {
			return true
		}
	}
	return false
}

func hasWord(list []byte, w string) bool {
	for f := range bytes.FieldsSeq(list) {
		if string(f) == w {
			return true
		}
	}
	return false
}

func mkdir(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

func write(file, value string) error {
	if err := os.WriteFile(file, []byte(value), 0); err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	return nil
}

// driverGroup is the cgroup of one driver process.
type driverGroup struct {
	dir string
	fd  int // open on dir for CLONE_INTO_CGROUP; -1 once closed
}

// newGroup makes the group for the next process of a driver, named by its family's mark, with
// its memory limit (0: none; the group still catches every descendant).
func (c *cgroups) newGroup(mark string, limit int64) (*driverGroup, error) {
	dir := filepath.Join(c.dir, "driver-"+mark)
	if err := mkdir(dir); err != nil {
		return nil, err
	}
	g := &driverGroup{dir: dir, fd: -1}
	if limit > 0 {
		if err := write(filepath.Join(dir, "memory.max"), strconv.FormatInt(limit, 10)); err != nil {
			g.remove()
			return nil, err
		}
		// Swapping a runaway driver out would only make the machine slow instead.
		_ = write(filepath.Join(dir, "memory.swap.max"), "0")
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		g.remove()
		return nil, err
	}
	g.fd = fd
	return g, nil
}

// started closes the descriptor the process was cloned into the group with.
func (g *driverGroup) started() {
	if g != nil && g.fd >= 0 {
		_ = unix.Close(g.fd)
		g.fd = -1
	}
}

// oomKills is how many processes of the group the kernel killed at memory.max.
func (g *driverGroup) oomKills() int {
	if g == nil {
		return 0
	}
	raw, err := os.ReadFile(filepath.Join(g.dir, "memory.events"))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// kill ends every process in the group (cgroup.kill, Linux 5.14) and removes the group once it
// is empty.
func (g *driverGroup) kill() {
	if g == nil {
		return
	}
	g.started()
	_ = write(filepath.Join(g.dir, "cgroup.kill"), "1")
	g.remove()
}

// remove deletes the group, waiting a moment for killed processes to leave it.
func (g *driverGroup) remove() {
	deadline := time.Now().Add(time.Second)
	for {
		err := unix.Rmdir(g.dir)
		if err == nil || errors.Is(err, unix.ENOENT) || time.Now().After(deadline) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
