package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

const helloGoMod = `module example.com/acme/drivers

go 1.26

require github.com/placeos-go/engine v0.0.0-00010101000000-000000000000

replace github.com/placeos-go/engine => ../engine
`

const helloMain = `package main

import (
	"context"

	"github.com/placeos-go/engine/sdk"
)

const version = "%s"

// Hello answers with the version it was built from.
type Hello struct{ sdk.Base }

// Version returns the driver's version.
func (h *Hello) Version(ctx context.Context) (string, error) { return version, nil }

func main() { sdk.Serve(func() *Hello { return &Hello{} }) }
`

// driverRepo is a git repository of driver source in a temp dir.
type driverRepo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *driverRepo {
	t.Helper()
	r := &driverRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	r.write("go.mod", helloGoMod)
	r.write("go.sum", string(sum))
	r.write("drivers/hello/main.go", fmt.Sprintf(helloMain, "v1"))
	r.write("drivers/broken/main.go", "package main\n\nfunc main() { this does not compile }\n")
	r.commit("drivers")
	return r
}

func (r *driverRepo) write(name, content string) {
	r.t.Helper()
	testutil.WriteFile(r.t, filepath.Join(r.dir, name), content)
}

// git runs git in the repository and returns what it printed.
func (r *driverRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = gitEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s (git is required: apt-get install -y git)", args, err, out)
	}
	return string(out)
}

// gitEnv is this process's environment with a git identity and no user or system git
// configuration, so that commits work on any machine.
func gitEnv() []string {
	return append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com")
}

func (r *driverRepo) commit(msg string) {
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
}

// A driver compiled from a git repository runs; a new commit pulled is rolled out with no failed
// execute; a driver that does not compile shows the compiler output and harms nothing else; a
// restarted node neither clones nor builds again.
func TestDriversFromRepository(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	repo := newRepo(t)
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	modelYAML := fmt.Sprintf(`
repositories: [{id: repo-1, uri: %q}]
drivers:
  - {id: drv-hello, module_name: Hello, role: service, repository_id: repo-1, path: drivers/hello}
  - {id: drv-broken, module_name: Broken, role: service, repository_id: repo-1, path: drivers/broken}
modules:
  - {id: mod-hello, driver_id: drv-hello, running: true}
  - {id: mod-broken, driver_id: drv-broken, running: true}
systems: [{id: sys-1, name: Lab, modules: [mod-hello, mod-broken]}]
`, repo.dir)
	e := enginetest.NewNode(t, config(redis.URL, "--sdk-dir", root), "builder")
	// Not waited for: the test waits for the driver the node builds to answer.
	e.Start("--bootstrap", "--model", enginetest.WriteModel(t, modelYAML))
	version := helloVersion(e)
	e.Eventually(90*time.Second, "hello v1 answering", func() bool { return version().Body == `"v1"` })

	// The broken driver: its module is not started, the reason and the compiler output show.
	e.Eventually(30*time.Second, "build failure reported", func() bool {
		r := e.Do("GET", "/api/core/v1/status/driver?path=drivers/broken", "")
		return r.Status == 200 && strings.Contains(r.Body, `"state":"failed"`) && strings.Contains(r.Body, "syntax error")
	})
	r := e.Do("GET", "/api/core/v1/status", "")
	if !strings.Contains(r.Body, "mod-broken") || !strings.Contains(r.Body, "drivers/broken") {
		t.Fatalf("node status does not show the broken module's reason: %s", r.Body)
	}
	// The name status lists under builds names the build on status/driver too.
	var st struct {
		Builds []struct{ Name, Path string } `json:"builds"`
	}
	if err := json.Unmarshal([]byte(r.Body), &st); err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, b := range st.Builds {
		if b.Path == "drivers/broken" {
			named++
			if r := e.Do("GET", "/api/core/v1/status/driver?path="+b.Name, ""); r.Status != 200 || !strings.Contains(r.Body, `"state":"failed"`) {
				t.Fatalf("status/driver?path=%s: %d %s", b.Name, r.Status, r.Body)
			}
		}
	}
	if named == 0 {
		t.Fatalf("status lists no build of drivers/broken: %s", r.Body)
	}
	// Not running is unavailable, to be retried — never a bad request of the caller's.
	// Both routes say why: the build failed.
	for _, path := range []string{"/api/engine/v2/modules/mod-broken/exec/anything", "/api/engine/v2/systems/sys-1/Broken_1/anything"} {
		if r := e.Do("POST", path, "[]"); r.Status != 503 || r.Header.Get("Retry-After") != "5" || !strings.Contains(r.Body, "drivers/broken") {
			t.Fatalf("exec on the module of a broken driver (%s): %d (Retry-After %q) %s", path, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
	// Its module read says it does not run, and why (docs/protocol.md §9.5).
	notBuilt := func(id string) (bool, string) {
		var m struct {
			DriverNotBuilt  bool   `json:"driver_not_built"`
			HasRuntimeError bool   `json:"has_runtime_error"`
			RuntimeError    string `json:"runtime_error"`
		}
		r := e.Do("GET", "/api/engine/v2/modules/"+id, "")
		if err := json.Unmarshal([]byte(r.Body), &m); err != nil || m.HasRuntimeError {
			t.Fatalf("read of %s: %d %s", id, r.Status, r.Body)
		}
		return m.DriverNotBuilt, m.RuntimeError
	}
	if unbuilt, why := notBuilt("mod-broken"); !unbuilt || !strings.Contains(why, "drivers/broken") {
		t.Fatalf("mod-broken reads as built: %q", why)
	}

	// Roll out v2 while a client calls the module in a loop.
	repo.write("drivers/hello/main.go", fmt.Sprintf(helloMain, "v2"))
	repo.commit("v2")
	rollOut(t, e, version, "v1", "v2", func() bool { return version().Body == `"v2"` })

	// A restart finds the clone and the binaries: no clone, no build.
	e.Restart()
	if r := e.Do("POST", "/api/engine/v2/systems/sys-1/Hello_1/version", "[]"); r.Body != `"v2"` {
		t.Fatalf("after restart: %d %s", r.Status, r.Body)
	}
	logs := e.Logs().String()
	for _, s := range []string{"cloning", `compiling: commit`, "compiled:"} {
		if strings.Contains(logs, s) && !strings.Contains(logs, "drivers/broken") {
			t.Fatalf("restart logged %q: it should reuse the clone and binaries\n%s", s, e.Logs().Tail(3000))
		}
	}

	// A commit that does not compile: the room keeps working on v2, and the failure shows on the
	// driver's status route, in /metrics, in `engine status` and in the log.
	repo.write("drivers/hello/main.go", fmt.Sprintf(helloMain, "v3")+"\nfunc broken() { this does not compile }\n")
	repo.commit("v3, broken")
	hello := func() string {
		loaded := e.Do("GET", "/api/core/v1/status/loaded", "").Body
		for _, part := range strings.Split(loaded, `"`) {
			if strings.Contains(part, "drivers+hello") || strings.Contains(part, "hello_") {
				return part
			}
		}
		return ""
	}
	failedBuild := func() bool {
		r := e.Do("GET", "/api/core/v1/status/driver?path="+url.QueryEscape(hello()), "")
		return strings.Contains(r.Body, `"failed_build":{"driver_id":"drv-hello"`) && strings.Contains(r.Body, "syntax error")
	}
	rollOut(t, e, version, "v2", "v2", failedBuild)
	// Its read says it runs the last good build, and why: running, so not driver_not_built.
	e.Eventually(5*time.Second, "mod-hello's read naming its last good build", func() bool {
		var m struct {
			DriverNotBuilt  bool   `json:"driver_not_built"`
			HasRuntimeError bool   `json:"has_runtime_error"`
			RuntimeError    string `json:"runtime_error"`
		}
		r := e.Do("GET", "/api/engine/v2/modules/mod-hello", "")
		return json.Unmarshal([]byte(r.Body), &m) == nil && m.HasRuntimeError && !m.DriverNotBuilt &&
			strings.Contains(m.RuntimeError, "syntax error") && strings.Contains(m.RuntimeError, "; running the last good build (commit ")
	})
	e.WaitLog(5*time.Second, "driver build failed; its modules keep running the last good build")
	e.Eventually(5*time.Second, "the compiler's complaint on the ERROR line itself", func() bool {
		for _, line := range strings.Split(e.Logs().String(), "\n") {
			if strings.Contains(line, "driver build failed; its modules keep") && strings.Contains(line, "compiler=") && strings.Contains(line, "syntax error") {
				return true
			}
		}
		return false
	})
	// The driver's path names the process running the last good build, with the failure; its key
	// is taken as pasted from status/loaded, "+" and all.
	for _, q := range []string{"drivers/hello", hello()} {
		if r := e.Do("GET", "/api/core/v1/status/driver?path="+q, ""); !strings.Contains(r.Body, `"failed_build":{"driver_id":"drv-hello"`) || !strings.Contains(r.Body, `"pid":`) {
			t.Fatalf("status/driver?path=%s: %d %s", q, r.Status, r.Body)
		}
	}
	if m := e.Do("GET", "/metrics", "").Body; !strings.Contains(m, `engine_driver_build_failed{driver="drv-hello"} 1`) {
		t.Fatal("/metrics does not show the failed build of drv-hello")
	}
	bin := testutil.BuildBinary(t, "./cmd/engine")
	if out, err := exec.Command(bin, "status", "--server", e.Base).CombinedOutput(); err != nil || !strings.Contains(string(out), "new build failed (commit") {
		t.Fatalf("engine status does not show the failed build: %v\n%s", err, out)
	}
	// A node restarting while the branch head does not build starts the module on the last good
	// binary it has.
	e.Restart()
	if r := version(); r.Body != `"v2"` {
		t.Fatalf("after a restart on a broken head: %d %s", r.Status, r.Body)
	}
	e.Eventually(60*time.Second, "the failure shown again after the restart", failedBuild)

	// The next good commit moves the module with no gap, and the failure is gone.
	repo.write("drivers/hello/main.go", fmt.Sprintf(helloMain, "v4"))
	repo.commit("v4")
	rollOut(t, e, version, "v2", "v4", func() bool { return version().Body == `"v4"` })
	if failedBuild() {
		t.Fatal("the failed build still shows once a good one runs")
	}
	if m := e.Do("GET", "/metrics", "").Body; !strings.Contains(m, `engine_driver_build_failed{driver="drv-hello"} 0`) {
		t.Fatal("/metrics still shows a failed build of drv-hello")
	}
}

// helloVersion calls Hello_1.version of sys-1 on e; a failed request is its error as the body.
func helloVersion(e *enginetest.Node) func() enginetest.Response {
	return func() enginetest.Response {
		r, err := e.Try("POST", "/api/engine/v2/systems/sys-1/Hello_1/version", "[]")
		if err != nil {
			return enginetest.Response{Body: err.Error()}
		}
		return r
	}
}

// rollOut pulls the repository while a client calls the module in a loop, until done: every call
// must answer the version before or the version after.
func rollOut(t *testing.T, e *enginetest.Node, version func() enginetest.Response, before, after string, done func() bool) {
	t.Helper()
	rollOutBy(t, e, version, before, after, func() {
		if r := e.Do("POST", "/api/engine/v2/repositories/repo-1/pull", ""); r.Status != 200 {
			t.Fatalf("pull: %d %s", r.Status, r.Body)
		}
	}, done)
}

// rollOutBy is rollOut with act in place of the pull.
func rollOutBy(t *testing.T, e *enginetest.Node, version func() enginetest.Response, before, after string, act func(), done func() bool) {
	t.Helper()
	var calls, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Stopped before the test goes on, and also when it fails: no call may outlive it.
	end := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer end()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := version()
			calls.Add(1)
			if r.Body != `"`+before+`"` && r.Body != `"`+after+`"` {
				failures.Add(1)
				t.Errorf("execute during the roll-out of %s: %d %s", after, r.Status, r.Body)
			}
		}
	}()
	// Called in the loop's middle: the loop has run before act, and runs on until done.
	e.Eventually(10*time.Second, "calls before the roll-out of "+after, func() bool { return calls.Load() > 0 })
	act()
	e.Eventually(90*time.Second, "the roll-out of "+after, done)
	end()
	if failures.Load() > 0 || calls.Load() < 10 {
		t.Fatalf("%d of %d executes failed during the roll-out of %s", failures.Load(), calls.Load(), after)
	}
}
