package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestSIGTERMWhileJoiningIsAStop: a node still retrying its --join (the members not up yet) is
// stopped by its service manager. It exited 1 with the join's error, `engine: join via …:
// unreachable`, where a stop exits 0 (protocol.md §1.5): the manager recorded a failure, and the
// operator read a join problem into a stop.
func TestSIGTERMWhileJoiningIsAStop(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	c := enginetest.NewCluster(t, config(rds.URL), "stopjoin", 1)
	n := c.Nodes[0]
	n.Start("--join", testutil.FreeAddr(t))
	n.WaitLog(30*time.Second, "join failed; retrying")
	n.Stop()
	logs := n.Logs().String()
	if code := n.ExitCode(); code != 0 || strings.Contains(logs, "engine: join via") {
		t.Fatalf("SIGTERM while joining: exit status %d, want 0; its last lines:\n%s", code, n.Logs().Tail(600))
	}
	if !strings.Contains(logs, "stopped while starting") {
		t.Fatalf("no line says the node was stopped while it started:\n%s", n.Logs().Tail(600))
	}
}
