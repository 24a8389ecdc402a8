package e2e

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// The author's path of DRIVERS.md §1, with a standalone repository: `engine new driver` outside
// the checkout, then `engine dev --watch` on its folder with no flag but --watch (the engine
// source found as engine new finds it, the module from the folder's dev.yaml, its simulator
// built and started by engine dev). The execute engine dev prints answers from the simulated
// device; a saved edit answers; engine dev stops with the driver and the simulator; the next
// plain engine dev carries no watched module.
func TestDevWatchNewDriver(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	cfg := config(redis.URL)
	cfg.Command = "dev"
	n := enginetest.NewNode(t, cfg, "dev")
	n.Raft = "127.0.0.1:0"

	work := t.TempDir()
	newDriver := exec.Command(testutil.BuildBinary(t, "./cmd/engine"), "new", "driver", "projector")
	newDriver.Dir = work
	newDriver.Env = append(gitEnv(), "GOPROXY=off", "GOFLAGS=", "GOWORK=off")
	if out, err := newDriver.CombinedOutput(); err != nil || !strings.Contains(string(out), " dev --watch drivers/projector") {
		t.Fatalf("engine new driver projector: %v\n%s", err, out)
	}
	dir := filepath.Join(work, "projector", "drivers", "projector")
	// The simulator's port as an author whose 10001 is taken would change it: in dev.yaml.
	simAddr := testutil.FreeAddr(t)
	port := simAddr[strings.LastIndexByte(simAddr, ':')+1:]
	devYAML := filepath.Join(dir, "dev.yaml")
	b, err := os.ReadFile(devYAML)
	if err != nil || !strings.Contains(string(b), "port: 10001\n") {
		t.Fatalf("dev.yaml: %v\n%s", err, b)
	}
	testutil.WriteFile(t, devYAML, strings.Replace(string(b), "port: 10001\n", "port: "+port+"\n", 1))

	n.Start("--displays", "0", "--watch", dir)
	n.WaitLog(3*time.Minute, "statuses: curl -s ")
	for _, want := range []string{
		"engine dev compiles the example drivers from this checkout's committed HEAD", // --sdk-dir found
		"  sim | simulated projector on " + simAddr,
		"module:   Projector_1 in sys-demo (mod-watch-projector; ip 127.0.0.1, port " + port + ", its simulator sim/ plays the device)",
	} {
		n.WaitLog(10*time.Second, want)
	}
	logs := n.Logs().String()

	// The curl it prints, as an author pastes it: the device is the simulator.
	m := regexp.MustCompile(`execute:  curl -s -X POST (\S+) -d '([^']*)'`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatal("engine dev printed no execute line")
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if r := n.Do("POST", u.Path, m[2]); r.Status != 200 || r.Body != "true" || !strings.HasSuffix(u.Path, "/Projector_1/power") {
		t.Fatalf("the printed execute %s %s: %d %s", u.Path, m[2], r.Status, r.Body)
	}
	if r := n.Do("GET", strings.TrimSuffix(u.Path, "/power"), ""); !strings.Contains(r.Body, `"power":"true"`) {
		t.Fatalf("statuses after power on: %d %s", r.Status, r.Body)
	}

	// An edit, saved: the new function answers.
	input := strings.Replace(u.Path, "/power", "/input", 1)
	if r := n.Do("POST", input, "[]"); r.Status != 400 {
		t.Fatalf("input before the edit: %d %s", r.Status, r.Body)
	}
	src := filepath.Join(dir, "projector.go")
	b, err = os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, src, string(b)+"\n// Input is the input shown.\nfunc (d *Projector) Input(context.Context) (string, error) { return \"hdmi2\", nil }\n")
	n.Eventually(time.Minute, "the saved edit answering", func() bool {
		r, err := n.Try("POST", input, "[]")
		return err == nil && r.Status == 200 && r.Body == `"hdmi2"`
	})
	n.WaitLog(10*time.Second, "projector.go saved → Projector_1 serves build")

	// A save whose OnLoad fails: the engine's error at once, and the build before it serves on.
	b, err = os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	onLoad := "OnLoad(context.Context) error {\n"
	testutil.WriteFile(t, src, strings.Replace(string(b), onLoad, onLoad+"\treturn sdk.ErrBadSettings\n", 1))
	n.WaitLog(time.Minute, "but Projector_1 did not load: bad settings — fix the driver and save, or fix "+filepath.Join(dir, "dev.yaml")+" and restart engine dev; Projector_1 keeps running build")
	if r := n.Do("POST", input, "[]"); r.Status != 200 {
		t.Fatalf("input after a save that does not load: %d %s", r.Status, r.Body)
	}

	// Stopped, engine dev takes its driver and simulator with it.
	children := map[string]int{}
	for _, pid := range testutil.Children(n.PID()) {
		name, _, _ := strings.Cut(filepath.Base(testutil.Exe(pid)), "_dev-")
		children[name] = pid
	}
	if children["sim"] == 0 || children["projector"] == 0 {
		t.Fatalf("engine dev's children %v: want the simulator (sim_dev-…) and the driver (projector_dev-…)", children)
	}
	n.Stop()
	testutil.WaitGone(t, children["sim"], children["projector"])
	if !strings.Contains(n.Logs().String(), "simulator stopped: node="+n.ID+" pid="+strconv.Itoa(children["sim"])) {
		t.Error("engine dev did not stop the simulator itself")
	}

	// The next plain engine dev on the same data carries no watched module.
	n.Start("--displays", "0")
	n.WaitReady()
	n.WaitLog(time.Second, "removed what an earlier engine dev --watch left: node="+n.ID+" id=mod-watch-projector")
	if !keysGone(t, redis.Client(t), "mod-watch-projector") { // at once, not at a sweep
		t.Error("the removed watch module's status and metadata are still in Redis")
	}
	for _, path := range []string{"/api/engine/v2/modules/mod-watch-projector", "/api/engine/v2/drivers/drv-watch-projector"} {
		if r := n.Do("GET", path, ""); r.Status != 404 {
			t.Errorf("GET %s after a plain engine dev: %d %s", path, r.Status, r.Body)
		}
	}
	if r := n.Do("GET", "/api/engine/v2/systems/sys-demo/types", ""); strings.Contains(r.Body, "Projector") {
		t.Errorf("the demo room after a plain engine dev: %s", r.Body)
	}
}
