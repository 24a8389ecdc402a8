package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// A driver binary replaced under its running process: writing over it fails ("text file busy"),
// renaming a new file over it works, and the supervisor's probe says that the process still runs
// the old binary, which modules it has and how to load the new one.
func TestBinaryReplacedWarns(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{ProbeInterval: 20 * time.Millisecond})
	f.binary = copyBinary(t, f.binary)
	f.start(t, testModule("mod-a", `{}`))
	f.sup.mu.Lock()
	p := f.sup.drivers[f.binary].proc
	f.sup.mu.Unlock()
	if p.binaryReplaced() {
		t.Fatal("the binary a process was launched from counts as replaced")
	}

	data, err := os.ReadFile(f.binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.binary, data, 0o755); !errors.Is(err, syscall.ETXTBSY) {
		t.Fatalf("writing over a running binary: %v, want text file busy", err)
	}
	if err := os.WriteFile(f.binary+".new", data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.binary+".new", f.binary); err != nil {
		t.Fatal(err)
	}
	if !p.binaryReplaced() {
		t.Fatal("a binary renamed over the running one does not count as replaced")
	}
	const warning = "driver binary replaced on disk: this process still runs the old one"
	testutil.Eventually(t, 10*time.Second, "the probe's warning", func() bool { return strings.Contains(f.logs.String(), warning) })
	var w map[string]any
	for _, line := range strings.Split(f.logs.String(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && strings.HasPrefix(fmt.Sprint(e["@message"]), warning) {
			w = e
		}
	}
	if !strings.Contains(fmt.Sprint(w["@message"]), "engine dev --watch FOLDER") || w["pid"] != float64(p.pid) || fmt.Sprint(w["modules"]) != "[mod-a]" {
		t.Fatalf("the warning does not say what to do, or for which process and modules: %v", w)
	}
}
