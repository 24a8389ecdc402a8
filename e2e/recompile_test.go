package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// recompiled is the part of a recompile's answer the test reads.
type recompiled struct {
	Path           string   `json:"path"`
	SHA256         string   `json:"sha256"`
	Load           string   `json:"load"`
	PreviousSHA256 string   `json:"previous_sha256"`
	Moved          []string `json:"moved"`
}

// A recompile of the same commit against the same SDK is bit-identical: it answers "unchanged",
// the process goes on (same pid) and nothing is logged for the operator to act on. Against a
// changed SDK (the engine upgraded on the node) the rebuild differs: it answers "loaded", and
// the module answers from a process of the new binary with no failed execute on the way.
func TestRecompileLoadsWhatItBuilt(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	repo := newRepo(t)
	sdk := copySDK(t)
	modelYAML := fmt.Sprintf(`
repositories: [{id: repo-1, uri: %q}]
drivers:
  - {id: drv-hello, module_name: Hello, role: service, repository_id: repo-1, path: drivers/hello}
modules:
  - {id: mod-hello, driver_id: drv-hello, running: true}
systems: [{id: sys-1, name: Lab, modules: [mod-hello]}]
`, repo.dir)
	e := enginetest.NewNode(t, config(redis.URL, "--sdk-dir", sdk), "recompile")
	e.Start("--bootstrap", "--model", enginetest.WriteModel(t, modelYAML))
	version := helloVersion(e)
	e.Eventually(120*time.Second, "hello v1 answering", func() bool { return version().Body == `"v1"` })
	pid := driverPID(t, e)

	recompile := func() recompiled {
		t.Helper()
		r := e.Do("POST", "/api/engine/v2/drivers/drv-hello/recompile", "")
		var out recompiled
		if r.Status != 200 || json.Unmarshal([]byte(r.Body), &out) != nil {
			t.Fatalf("recompile: %d %s", r.Status, r.Body)
		}
		return out
	}
	same := recompile()
	if same.Load != "unchanged" || same.SHA256 != same.PreviousSHA256 || same.SHA256 != exeSum(t, pid) {
		t.Fatalf("identical recompile answered %+v; want unchanged, the running binary's sha256", same)
	}
	// The probe looks at the replaced file too (every 5 s); the supervisor's test waits for it.
	if got := driverPID(t, e); got != pid {
		t.Fatalf("the driver process changed (pid %d, then %d) for an identical rebuild", pid, got)
	}
	if logs := e.Logs().String(); strings.Contains(logs, "replaced on disk") {
		t.Fatalf("an identical rebuild logged a replacement:\n%s", e.Logs().Tail(3000))
	}

	// The node's engine upgraded: the SDK the driver builds against says another version.
	vfile := filepath.Join(sdk, "version", "version.go")
	src, err := os.ReadFile(vfile)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, vfile, strings.Replace(string(src), `const Number = "`, `const Number = "9.`, 1))

	// The module is called in a loop through the recompile: every call answers.
	var got recompiled
	rollOutBy(t, e, version, "v1", "v1", func() { got = recompile() }, func() bool { return version().Body == `"v1"` })
	now := driverPID(t, e)
	if got.Load != "loaded" || got.PreviousSHA256 != same.SHA256 || got.SHA256 == same.SHA256 || got.Path != same.Path ||
		now == pid || exeSum(t, now) != got.SHA256 {
		t.Fatalf("recompile against a new SDK answered %+v (pid %d, then %d); want loaded, the module in a process of the new binary", got, pid, now)
	}
	testutil.WaitGone(t, pid)
	if n := strings.Count(e.Logs().String(), "driver binary loaded: its modules moved to the new process"); n != 1 {
		t.Fatalf("the load was logged %d times:\n%s", n, e.Logs().Tail(3000))
	}
}

// driverPID is the pid of the node's only driver process.
func driverPID(t *testing.T, e *enginetest.Node) int {
	t.Helper()
	var st struct {
		Drivers []struct {
			PID int `json:"pid"`
		} `json:"drivers"`
	}
	r := e.Do("GET", "/api/core/v1/status", "")
	if err := json.Unmarshal([]byte(r.Body), &st); err != nil || len(st.Drivers) != 1 || st.Drivers[0].PID == 0 {
		t.Fatalf("status: %d %s", r.Status, r.Body)
	}
	return st.Drivers[0].PID
}

// exeSum is the SHA-256 of what process pid runs.
func exeSum(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

// copySDK copies the engine's module (without .git) to a folder the test may change: the SDK
// drivers are built against.
func copySDK(t *testing.T) string {
	t.Helper()
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "engine")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
