package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/placeos-go/engine/examples/sims/display/displaysim"
	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// TestRealProcess builds the driver binary and runs it through go-plugin, as the supervisor
// does: handshake on stdout, host callbacks over the broker, Terminate ending the process.
func TestRealProcess(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "display")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sim, err := displaysim.New("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sim.Start()
	t.Cleanup(func() { _ = sim.Close() })

	host := sdktest.NewHost()
	// go-plugin's lines and the driver's own: in the test log, shown if the test fails.
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Output: sdktest.LogWriter(t), Level: hclog.Debug})
	// The driver's own temp dir, to see below what it leaves there: go-plugin's runner gives it
	// no socket folder. Not t.TempDir, whose long path would make the socket's too long to bind.
	driverTmp, err := os.MkdirTemp("", "t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(driverTmp) })
	cmd := exec.Command(bin)
	cmd.Env = []string{"TMPDIR=" + driverTmp}
	cc := plugin.ClientConfig(cmd, host, logger, nil)
	cc.SkipHostEnv = true // else the test's own TMPDIR, if set, comes after and wins
	client := goplugin.NewClient(cc)
	t.Cleanup(client.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	drv, err := plugin.Connect(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drv.Start(ctx, &proto.StartRequest{Module: &proto.Module{Id: "mod-1", Name: "Display",
		Ip: "127.0.0.1", Port: int32(sim.Port())}}); err != nil {
		t.Fatal(err)
	}
	if err := host.WaitStatus(ctx, "mod-1", "connected", true); err != nil {
		t.Fatal(err)
	}
	resp, err := drv.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "power", ArgsJson: []byte(`[true]`)})
	if err != nil || string(resp.GetResultJson()) != "true" {
		t.Fatalf("exec: %v %v", resp, err)
	}
	if _, err := drv.Terminate(ctx, &proto.Empty{}); err != nil {
		t.Fatal(err)
	}
	for !client.Exited() {
		select {
		case <-ctx.Done():
			t.Fatal("driver process did not exit after Terminate")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if left, err := os.ReadDir(driverTmp); err != nil || len(left) != 0 {
		t.Fatalf("the driver left in its temp dir: %v, %v", left, err)
	}
}
