package plugin_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
)

// outerTemp is the temp dir the tests were run with, before TestMain gave them one of their own.
var outerTemp string

// TestMain gives the tests a temp dir of their own: go-plugin puts the sockets of the in-process
// server and of the host's callback broker in it, and a broker still closing its listener when
// the process ends would leave its socket there.
func TestMain(m *testing.M) {
	outerTemp = os.TempDir()
	dir, err := os.MkdirTemp("", "plugin-test")
	if err == nil {
		err = os.Setenv("TMPDIR", dir)
	}
	if err != nil {
		panic(err)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// A driver run by a host that gives it no socket folder (go-plugin's own runner) serves in a
// folder of its own and removes it however it is ended, short of SIGKILL.
func TestServeLeavesNothingInTempDir(t *testing.T) {
	t.Parallel()
	binary := testutil.BuildBinary(t, "internal/testdriver")
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, client *goplugin.Client)
	}{
		{"host closes", func(_ *testing.T, client *goplugin.Client) { client.Kill() }},
		{"SIGTERM", func(t *testing.T, client *goplugin.Client) {
			if err := syscall.Kill(client.ReattachConfig().Pid, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Not t.TempDir: its long path would make the socket's too long to bind.
			tmp, err := os.MkdirTemp(outerTemp, "t")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.RemoveAll(tmp) })
			cmd := exec.Command(binary)
			cmd.Env = []string{"TMPDIR=" + tmp}
			cc := plugin.ClientConfig(cmd, &proto.UnimplementedHostServer{}, hclog.New(&hclog.LoggerOptions{Output: io.Discard}), nil)
			cc.SkipHostEnv = true // else the test's own TMPDIR comes after, and wins
			client := goplugin.NewClient(cc)
			t.Cleanup(client.Kill)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if _, err := plugin.Connect(ctx, client); err != nil {
				t.Fatal(err)
			}
			if entries, _ := os.ReadDir(tmp); len(entries) != 1 {
				t.Fatalf("the driver serves in %v, want a socket folder of its own", entries)
			}
			tc.end(t, client)
			testutil.Eventually(t, 10*time.Second, "the driver's exit", client.Exited)
			if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
				t.Fatalf("the driver left in its temp dir: %v, %v", entries, err)
			}
		})
	}
}
