package supervisor

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/placeos-go/engine/internal/testutil"
)

// The cgroup v2 set-up, on a stand-in for the hierarchy: a temporary folder with the files the
// kernel would have. It checks the file protocol (which group is made, what is written where);
// the kernel's side (the limit enforced, cgroup.kill) needs a delegated cgroup v2, which this
// machine has not, and is covered there by the same tests as RLIMIT_DATA (see doc.go).
func TestCgroupSetup(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	own := filepath.Join(root, "system.slice", "engine.service")
	if err := os.MkdirAll(own, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(own, "cgroup.controllers"), "cpu io memory pids\n")
	self := []byte("0::/system.slice/engine.service\n")

	for _, tc := range []struct{ name, self, want string }{
		{"cgroup v1 or hybrid", "12:memory:/x\n0::/\n", "not a cgroup v2"},
		{"not delegated", string(self), "not delegated"},
	} {
		if cg, why := setupCgroups(root, []byte(tc.self)); cg != nil || !strings.Contains(why, tc.want) {
			t.Fatalf("%s: %v %q, want refusal %q", tc.name, cg, why, tc.want)
		}
	}
	if err := unix.Setxattr(own, "user.delegate", []byte("1"), 0); err != nil {
		t.Skipf("no user xattrs on the temporary folder's file system: %v", err)
	}
	// A group a killed engine left.
	left := filepath.Join(own, "drivers", "driver-old")
	if err := os.MkdirAll(left, 0o755); err != nil {
		t.Fatal(err)
	}
	cg, why := setupCgroups(root, self)
	if cg == nil {
		t.Fatalf("delegated group refused: %s", why)
	}
	for file, want := range map[string]string{
		"engine/cgroup.procs":            strconv.Itoa(os.Getpid()),
		"cgroup.subtree_control":         "+memory",
		"drivers/cgroup.subtree_control": "+memory",
		"drivers/driver-old/cgroup.kill": "1",
	} {
		if got := testutil.ReadFile(t, filepath.Join(own, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}

	g, err := cg.newGroup("abc", 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ReadFile(t, filepath.Join(g.dir, "memory.max")); got != strconv.Itoa(256<<20) {
		t.Fatalf("memory.max = %q", got)
	}
	if g.oomKills() != 0 {
		t.Fatal("OOM kills counted before any")
	}
	testutil.WriteFile(t, filepath.Join(g.dir, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
	if g.oomKills() != 1 {
		t.Fatal("memory.events' oom_kill not read")
	}
	g.started()
	if g.fd != -1 {
		t.Fatal("group descriptor left open")
	}
}
