package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/proctree"
	"github.com/placeos-go/engine/internal/testutil"
)

// An engine killed (SIGKILL) while it builds a driver takes its go build with it, and its next
// start kills the compiler that go build had started: nothing of the dead engine's build writes
// on into its data directory. The go tool is the real one; a `go` first in the engine's PATH
// only adds -toolexec, whose "compiler" records its pid and sleeps, so the build is caught in
// the middle. The go command's temp folder of the killed build goes at the next start too.
func TestKilledEngineLeavesNoBuild(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	repo := newRepo(t)
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	realGo, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	bin, pidFile := t.TempDir(), filepath.Join(t.TempDir(), "compilers")
	for name, script := range map[string]string{
		"go":   fmt.Sprintf("if [ \"$1\" = build ]; then shift; exec %q build -toolexec=%q \"$@\"; fi\nexec %[1]q \"$@\"\n", realGo, filepath.Join(bin, "hang")),
		"hang": fmt.Sprintf("echo $$ >> %q\nexec sleep 3600\n", pidFile),
	} {
		testutil.WriteScript(t, filepath.Join(bin, name), script)
	}
	compilers := func() []int {
		raw, _ := os.ReadFile(pidFile) // absent until the first build reaches its compiler
		var pids []int
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	// Last of the cleanups: the restarted engine's own build is stopped with it, this is only
	// should the test fail first.
	t.Cleanup(func() {
		for _, pid := range compilers() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	cfg := config(redis.URL, "--sdk-dir", root)
	cfg.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
	e := enginetest.NewNode(t, cfg, "killedbuild")
	e.Start("--bootstrap", "--model", enginetest.WriteModel(t, fmt.Sprintf(`
repositories: [{id: repo-1, uri: %q}]
drivers:
  - {id: drv-hello, module_name: Hello, role: service, repository_id: repo-1, path: drivers/hello}
modules:
  - {id: mod-hello, driver_id: drv-hello, running: true}
`, repo.dir)))
	e.Eventually(60*time.Second, "the build's compiler running", func() bool {
		pids := compilers()
		return len(pids) > 0 && testutil.Alive(pids[0])
	})
	compiler := compilers()[0]
	goBuild := proctree.Parent(compiler)
	if exe := testutil.Exe(goBuild); exe != realGo {
		if resolved, _ := filepath.EvalSymlinks(realGo); exe != resolved {
			t.Fatalf("the compiler's parent %d runs %s, not the go tool %s", goBuild, exe, realGo)
		}
	}

	// The go command's work folder of the build killed below, which it never removes itself.
	workDirs, _ := filepath.Glob(filepath.Join(e.DataDir, "builds", "tmp", "go-build*"))
	if len(workDirs) == 0 {
		t.Fatal("no go-build folder in builds/tmp while the build runs")
	}

	e.Kill()
	testutil.WaitGone(t, goBuild) // its parent-death signal
	if !testutil.Alive(compiler) {
		t.Fatal("the compiler ended with the go command; the next start's cleanup is not tested")
	}
	e.Start()
	testutil.WaitGone(t, compiler)
	e.WaitLog(30*time.Second, "killed a build left by a previous engine")
	// Logged after the kill above, once the sweep is done.
	e.WaitLog(30*time.Second, "removed the temp folders of builds a previous engine left")
	for _, dir := range workDirs {
		if _, err := os.Lstat(dir); !os.IsNotExist(err) {
			t.Errorf("the killed build's %s is still there after the restart (%v)", dir, err)
		}
	}
}
