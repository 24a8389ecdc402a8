package enginetest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// SecretsKeyFile writes a secrets key with `engine secrets init`, as the README has an operator
// do, and returns its path for --secrets-key-file.
func SecretsKeyFile(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "secrets.key")
	bin := testutil.BuildBinary(tb, "./cmd/engine")
	if out, err := exec.Command(bin, "secrets", "init", "--out", path).CombinedOutput(); err != nil {
		tb.Fatalf("engine secrets init: %v\n%s", err, out)
	}
	return path
}

// Call is one execute through REST and the answer it must get.
type Call struct {
	Fn, Args string
	Status   int
	Body     string // the exact JSON result below 400, else a substring of the error body
}

// CheckCalls executes each call on module (its system path:
// "/api/engine/v2/systems/sys-1/Display_1") and reports every answer that differs.
func (n *Node) CheckCalls(module string, calls []Call) {
	n.tb.Helper()
	for _, c := range calls {
		r := n.Do("POST", module+"/"+c.Fn, c.Args)
		ok := r.Status == c.Status
		if c.Status < 400 {
			ok = ok && JSONEqual(r.Body, c.Body)
		} else {
			ok = ok && strings.Contains(r.Body, c.Body)
		}
		if !ok {
			n.tb.Errorf("%s %s = %d %s; want %d %s", c.Fn, c.Args, r.Status, r.Body, c.Status, c.Body)
		}
	}
}

// WaitStatuses waits until each status of module (its system path) reads as the JSON in want.
func (n *Node) WaitStatuses(within time.Duration, module string, want map[string]string) {
	n.tb.Helper()
	for name, v := range want {
		n.Eventually(within, module+" "+name+" = "+v, func() bool { return n.Do("GET", module+"/"+name, "").Body == v })
	}
}
