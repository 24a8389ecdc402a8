// Command baddriver is a misbehaving driver binary for the supervisor's isolation tests: it runs
// beside a healthy module and does what a buggy or hostile driver does. It implements
// plugin.Driver directly, as internal/testdriver does. What it does is chosen per module by the
// "mode" setting, acted on when the module starts:
//
//	healthy       nothing bad (the default)
//	fork          starts two children that sleep for ever, both holding the driver's stderr: one
//	              in the driver's session, one in a session of its own (setsid)
//	crash_loop    exits with status 3 right after the start, in every process
//	crash_later   exits with status 9 some time after the start (crashlater.go)
//	alloc         allocates and touches memory without bound
//	log_flood     writes hclog JSON lines (with the module) to stderr as fast as it can
//	stderr_flood  writes plain lines to stderr as fast as it can
//	hang          makes the process deaf to the engine's liveness probe (Info never answers)
//
// Functions: echo(args...) returns its arguments; children() lists the pids of the children
// "fork" started; crash(code) exits the process; block() never returns, deaf to its deadline;
// pid() is the process id.
//
// BADDRIVER_CHILD=1 makes the binary a child of "fork": it sleeps until killed. A binary whose
// name contains "bigmeta" answers 2 MiB of metadata (a process's metadata is read before any of
// its modules starts, so no setting can choose it).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
)

func main() {
	if os.Getenv("BADDRIVER_CHILD") == "1" {
		select {} // a child: lives until it is killed
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "baddriver", Output: os.Stderr, JSONFormat: true, Level: hclog.Debug})
	plugin.Serve(&driver{log: logger, modules: map[string]*proto.Module{}}, logger)
}

type driver struct {
	log hclog.Logger

	hang atomic.Bool

	mu       sync.Mutex
	modules  map[string]*proto.Module
	children []int
}

func (d *driver) Connect(proto.HostClient) {}

func (d *driver) Start(_ context.Context, r *proto.StartRequest) (*proto.Empty, error) {
	var s struct {
		Mode string `json:"mode"`
	}
	_ = json.Unmarshal(r.GetModule().GetSettingsJson(), &s)
	id := r.GetModule().GetId()
	d.mu.Lock()
	d.modules[id] = r.Module
	d.mu.Unlock()
	switch s.Mode {
	case "", "healthy":
	case "fork":
		if err := d.fork(); err != nil {
			return nil, err
		}
	case "crash_loop":
		go func() {
			time.Sleep(20 * time.Millisecond) // let the start be answered first
			os.Exit(3)
		}()
	case "crash_later":
		crashLater(r.GetModule().GetSettingsJson())
	case "alloc":
		go allocate()
	case "log_flood":
		go func() {
			log := d.log.With("module", id)
			for i := 0; ; i++ {
				log.Info("flood line", "n", i)
			}
		}()
	case "stderr_flood":
		go func() {
			for i := 0; ; i++ {
				fmt.Fprintf(os.Stderr, "plain stderr flood line %d\n", i)
			}
		}()
	case "log_forge":
		// A message and a field name that would start lines of their own, an escape sequence,
		// and a plain stderr line that overwrites itself (\r) in red.
		d.log.With("module", id).Warn("forged message\n2026-12-05T23:00:00.000Z [ERROR] engine.auth: forged line\x1b[2J",
			"forged key\n2026-12-05T23:00:00.000Z [ERROR] engine.auth: forged", "v")
		fmt.Fprint(os.Stderr, "forged plain\x1b[31m red\r over\n")
	case "hang":
		d.hang.Store(true)
	default:
		return nil, fmt.Errorf("baddriver: unknown mode %q", s.Mode)
	}
	return &proto.Empty{}, nil
}

// fork starts the two children of mode "fork", passing them the driver's stderr as a careless
// driver does.
func (d *driver) fork() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, setsid := range []bool{false, true} {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), "BADDRIVER_CHILD=1")
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
		if err := cmd.Start(); err != nil {
			return err
		}
		go func() { _ = cmd.Wait() }() // reaped if it dies while the driver lives
		d.mu.Lock()
		d.children = append(d.children, cmd.Process.Pid)
		d.mu.Unlock()
	}
	return nil
}

// kept holds what allocate took, so the garbage collector cannot give it back.
var kept [][]byte

// allocate takes memory without bound, touching every page so it is really used.
func allocate() {
	for {
		b := make([]byte, 8<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		kept = append(kept, b)
	}
}

func (d *driver) Update(ctx context.Context, r *proto.StartRequest) (*proto.Empty, error) {
	return d.Start(ctx, r)
}

func (d *driver) Stop(_ context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	d.mu.Lock()
	delete(d.modules, r.ModuleId)
	d.mu.Unlock()
	return &proto.Empty{}, nil
}

func (d *driver) Debug(context.Context, *proto.ModuleRequest) (*proto.Empty, error) {
	return &proto.Empty{}, nil
}

func (d *driver) Ignore(context.Context, *proto.ModuleRequest) (*proto.Empty, error) {
	return &proto.Empty{}, nil
}

const metadata = `{
  "interface": {"echo": {"value": {"title": "any", "default": null}}, "children": {}, "crash": {"code": {"type": "integer", "title": "int"}}, "block": {}, "pid": {}},
  "implements": [], "requirements": {}, "security": {}, "versions": {"driver": "baddriver"}
}`

func (d *driver) Metadata(context.Context, *proto.Empty) (*proto.MetadataResponse, error) {
	if strings.Contains(filepath.Base(os.Args[0]), "bigmeta") {
		pad := strings.Repeat("x", 2<<20)
		return &proto.MetadataResponse{Json: []byte(`{"interface": {}, "versions": {"pad": "` + pad + `"}}`)}, nil
	}
	return &proto.MetadataResponse{Json: []byte(metadata)}, nil
}

func (d *driver) Info(context.Context, *proto.Empty) (*proto.InfoResponse, error) {
	if d.hang.Load() {
		select {} // deliberately deaf to its deadline: a hung process
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]string, 0, len(d.modules))
	for id := range d.modules {
		ids = append(ids, id)
	}
	return &proto.InfoResponse{ModuleIds: ids}, nil
}

func (d *driver) Terminate(context.Context, *proto.Empty) (*proto.Empty, error) {
	d.mu.Lock()
	d.modules = map[string]*proto.Module{}
	d.mu.Unlock()
	return &proto.Empty{}, nil
}

func (d *driver) Exec(_ context.Context, r *proto.ExecRequest) (*proto.ExecResponse, error) {
	d.mu.Lock()
	_, ok := d.modules[r.ModuleId]
	children := append([]int(nil), d.children...)
	d.mu.Unlock()
	if !ok {
		return raise(404, "NotFound", "module %q is not running", r.ModuleId), nil
	}
	var args []json.RawMessage
	_ = json.Unmarshal(r.ArgsJson, &args)
	var out any
	switch r.Function {
	case "echo":
		out = args
	case "children":
		out = children
	case "pid":
		out = os.Getpid()
	case "crash":
		code := 3
		if len(args) > 0 {
			_ = json.Unmarshal(args[0], &code)
		}
		os.Exit(code)
	case "block":
		select {}
	default:
		return raise(404, "NoMethodError", "could not find function %s", r.Function), nil
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return &proto.ExecResponse{ResultJson: raw}, nil
}

func raise(code int32, class, format string, args ...any) *proto.ExecResponse {
	return &proto.ExecResponse{ResultJson: []byte("null"), Code: code, Error: &proto.ExecError{
		Class: class, Message: fmt.Sprintf(format, args...), Backtrace: []string{"baddriver/main.go"},
	}}
}
