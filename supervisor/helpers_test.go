package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
	pb "github.com/placeos-go/engine/plugin/proto"
)

const driverPkg = "internal/testdriver"

func TestMain(m *testing.M) {
	if os.Getenv(orphanHelperEnv) != "" {
		runOrphanHelper() // never returns: the test kills it
	}
	code := m.Run()
	// Whatever the tests did, no driver process may outlive the suite.
	for _, pid := range testutil.Children(os.Getpid()) {
		if strings.HasSuffix(testutil.Exe(pid), "internal_testdriver") {
			fmt.Fprintf(os.Stderr, "driver process %d still running after the tests\n", pid)
			code = 1
		}
	}
	os.Exit(code)
}

// findLogs returns the entries of the JSON log collected in logs whose message is msg.
func findLogs(logs *testutil.LockedBuffer, msg string) []map[string]any {
	return logs.Entries("@message", msg)
}

// fakeHost is the engine side of the callbacks: statuses and settings in memory, Exec routed
// back into the supervisor as core does.
type fakeHost struct {
	pb.UnimplementedHostServer
	sup *Supervisor

	mu       sync.Mutex
	status   map[string]string // module/name -> JSON
	settings map[string]string
	channels map[string][]chan []byte
}

func newFakeHost() *fakeHost {
	return &fakeHost{status: map[string]string{}, settings: map[string]string{}, channels: map[string][]chan []byte{}}
}

func (h *fakeHost) SetStatus(_ context.Context, r *pb.SetStatusRequest) (*pb.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Delete {
		delete(h.status, r.ModuleId+"/"+r.Name)
	} else {
		h.status[r.ModuleId+"/"+r.Name] = string(r.ValueJson)
	}
	return &pb.Empty{}, nil
}

func (h *fakeHost) statusOf(mod, name string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.status[mod+"/"+name]
	return v, ok
}

func (h *fakeHost) GetStatus(_ context.Context, r *pb.GetStatusRequest) (*pb.GetStatusResponse, error) {
	v, ok := h.statusOf(r.Target.GetModuleId(), r.Name)
	return &pb.GetStatusResponse{ValueJson: []byte(v), Found: ok}, nil
}

func (h *fakeHost) Exec(ctx context.Context, r *pb.HostExecRequest) (*pb.ExecResponse, error) {
	return h.sup.Exec(ctx, &pb.ExecRequest{ModuleId: r.Target.GetModuleId(), Function: r.Function,
		ArgsJson: r.ArgsJson, UserId: r.UserId, RequestId: r.RequestId})
}

func (h *fakeHost) Subscribe(r *pb.SubscribeRequest, stream pb.Host_SubscribeServer) error {
	// The current value, then a fixed change, is all the tests need from a stream.
	v, ok := h.statusOf(r.Target.GetModuleId(), r.Name)
	if ok {
		if err := stream.Send(&pb.StatusValue{ValueJson: []byte(v)}); err != nil {
			return err
		}
	}
	if err := stream.Send(&pb.StatusValue{ValueJson: []byte("null")}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

// Subscriptions accepts every subscription opened on the stream; the tests only need to see which
// reach the host.
func (h *fakeHost) Subscriptions(stream pb.Host_SubscriptionsServer) error {
	for {
		c, err := stream.Recv()
		if err != nil {
			return nil
		}
		if c.Subscribe != nil {
			if err := stream.Send(&pb.SubscriptionEvent{Id: c.Id, Accepted: true}); err != nil {
				return err
			}
		}
	}
}

func (h *fakeHost) Publish(_ context.Context, r *pb.PublishRequest) (*pb.Empty, error) {
	h.mu.Lock()
	subs := h.channels[r.Channel]
	h.mu.Unlock()
	for _, ch := range subs {
		ch <- r.Message
	}
	return &pb.Empty{}, nil
}

func (h *fakeHost) Monitor(r *pb.MonitorRequest, stream pb.Host_MonitorServer) error {
	ch := make(chan []byte, 16)
	h.mu.Lock()
	h.channels[r.Channel] = append(h.channels[r.Channel], ch)
	h.mu.Unlock()
	for {
		select {
		case msg := <-ch:
			if err := stream.Send(&pb.ChannelMessage{Message: msg}); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (h *fakeHost) monitors(channel string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.channels[channel])
}

func (h *fakeHost) SaveSetting(_ context.Context, r *pb.SaveSettingRequest) (*pb.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.settings[r.ModuleId+"/"+r.Name] = string(r.ValueJson)
	return &pb.Empty{}, nil
}

type fixture struct {
	sup    *Supervisor
	host   *fakeHost
	logs   *testutil.LockedBuffer
	binary string

	mu     sync.Mutex
	starts map[string]int // OnModuleStart calls per module
}

// newFixture builds the test driver and returns a supervisor on it that is closed (and checked
// to leave no process behind) at the end of the test.
func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	f := &fixture{host: newFakeHost(), logs: &testutil.LockedBuffer{}, binary: testutil.BuildBinary(t, driverPkg), starts: map[string]int{}}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: f.logs, JSONFormat: true, Level: hclog.Debug})
	cfg.Host = f.host
	cfg.OnModuleStart = func(_ context.Context, id string) {
		f.mu.Lock()
		f.starts[id]++
		f.mu.Unlock()
	}
	sup, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.sup, f.host.sup = sup, sup
	var pids []int
	t.Cleanup(func() {
		for _, st := range sup.Drivers() {
			for _, pid := range []int{st.PID, st.SparePID} {
				if pid != 0 {
					pids = append(pids, pid)
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sup.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		testutil.WaitGone(t, pids...)
	})
	return f
}

func (f *fixture) startCount(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts[id]
}

func testModule(id, settings string) *pb.Module {
	return &pb.Module{Id: id, DriverId: "drv-test", Name: "Test", Role: "logic", SettingsJson: []byte(settings)}
}

func (f *fixture) start(t testing.TB, m *pb.Module) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.sup.Start(ctx, f.binary, m); err != nil {
		t.Fatalf("start %s: %v", m.Id, err)
	}
}

// exec calls fn and fails the test on a transport error or a driver-raised error.
func (f *fixture) exec(t testing.TB, mod, fn string, args ...any) string {
	t.Helper()
	resp, err := f.execErr(context.Background(), mod, fn, args...)
	if err != nil {
		t.Fatalf("exec %s.%s: %v", mod, fn, err)
	}
	if resp.Error != nil {
		t.Fatalf("exec %s.%s raised %s: %s", mod, fn, resp.Error.Class, resp.Error.Message)
	}
	return string(resp.ResultJson)
}

func (f *fixture) execErr(ctx context.Context, mod, fn string, args ...any) (*pb.ExecResponse, error) {
	if args == nil {
		args = []any{}
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return f.sup.Exec(ctx, &pb.ExecRequest{ModuleId: mod, Function: fn, ArgsJson: raw, UserId: "user-1"})
}

func (f *fixture) pid(t testing.TB) int {
	t.Helper()
	st, ok := f.sup.DriverStatus(f.binary)
	if !ok || st.PID == 0 {
		t.Fatalf("driver not running: %+v", st)
	}
	return st.PID
}
