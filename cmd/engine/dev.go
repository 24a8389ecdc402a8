package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/examples/sims/camera/camerasim"
	"github.com/placeos-go/engine/examples/sims/display/displaysim"
	"github.com/placeos-go/engine/examples/sims/lighting/lightingsim"
	"github.com/placeos-go/engine/model"
)

// exampleDrivers are the drivers of the demo, by folder under examples/drivers.
var exampleDrivers = []struct {
	name string
	drv  model.Driver
}{
	{"display", model.Driver{ID: "drv-display", Name: "Example Display", ModuleName: "Display", Role: model.RoleDevice, DefaultPort: 4999}},
	{"lighting", model.Driver{ID: "drv-lighting", Name: "Example Lighting Gateway", ModuleName: "Lighting", Role: model.RoleService}},
	{"camera", model.Driver{ID: "drv-camera", Name: "Example PTZ Camera", ModuleName: "Camera", Role: model.RoleDevice, DefaultPort: 52381}},
	{"room", model.Driver{ID: "drv-room", Name: "Example Room", ModuleName: "Room", Role: model.RoleLogic}},
}

// demoModel starts the simulated devices and returns the demo model that uses them: system
// sys-demo with Display_1..Display_N, Lighting_1, Camera_1 and Room_1.
//
// The drivers are compiled from this checkout as a git repository (its committed HEAD), the
// same path a real deployment takes, when the engine runs from a checkout; otherwise the
// prebuilt binaries in --driver-dir are used.
func demoModel(o *options, log hclog.Logger) (*model.File, func(), error) {
	f := &model.File{}
	fromRepo := o.SDKDir != "" && isGitRepo(o.SDKDir)
	if fromRepo {
		f.Repositories = []*model.Repository{{ID: "engine-examples", Name: "this engine checkout", URI: o.SDKDir}}
		if wd, err := os.Getwd(); err == nil {
			if _, inCheckout := within(o.SDKDir, wd); inCheckout {
				log.Info("engine dev compiles the example drivers from this checkout's committed HEAD", "repository", o.SDKDir)
			} else {
				log.Info("the demo's example drivers are compiled from the engine source at " + o.SDKDir + " (its committed HEAD)")
			}
		}
	}
	for _, ex := range exampleDrivers {
		d := ex.drv
		if fromRepo {
			d.RepositoryID, d.Path = "engine-examples", "examples/drivers/"+ex.name
		} else {
			if _, err := os.Stat(filepath.Join(o.DriverDir, ex.name)); err != nil {
				return nil, nil, fmt.Errorf("example driver %q not found in %s: run `make build` first (or `make run`)", ex.name, o.DriverDir)
			}
			d.Binary = ex.name
		}
		f.Drivers = append(f.Drivers, &d)
	}

	var closers []io.Closer
	stop := func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}
	fail := func(what string, err error) (*model.File, func(), error) {
		stop()
		return nil, nil, fmt.Errorf("%s simulator: %w", what, err)
	}
	sys := &model.System{ID: "sys-demo", Name: "Demo room", Description: "engine dev demo system"}
	add := func(m *model.Module) {
		f.Modules = append(f.Modules, m)
		sys.Modules = append(sys.Modules, m.ID)
	}
	for i := 1; i <= o.Displays; i++ {
		sim, err := displaysim.New("127.0.0.1:0")
		if err != nil {
			return fail("display", err)
		}
		sim.Start()
		closers = append(closers, sim)
		host, port := splitHostPort(sim.Addr())
		id := fmt.Sprintf("mod-display-%d", i)
		add(&model.Module{ID: id, DriverID: "drv-display", IP: host, Port: port, Running: true,
			Notes: fmt.Sprintf("simulated display %d", i)})
		log.Info("display simulator running", "module", id, "addr", sim.Addr())
	}
	lights, err := lightingsim.New("127.0.0.1:0", "")
	if err != nil {
		return fail("lighting", err)
	}
	closers = append(closers, lights)
	add(&model.Module{ID: "mod-lights", DriverID: "drv-lighting", URI: lights.URL(), Running: true,
		Settings: model.Settings{"zone": json.RawMessage(`"1"`)}})
	camera, err := camerasim.New("127.0.0.1:0")
	if err != nil {
		return fail("camera", err)
	}
	closers = append(closers, camera)
	host, port := splitHostPort(camera.Addr())
	add(&model.Module{ID: "mod-camera", DriverID: "drv-camera", IP: host, Port: port, UDP: true, Running: true})
	add(&model.Module{ID: "mod-room", DriverID: "drv-room", ControlSystemID: "sys-demo", Running: true,
		Settings: model.Settings{"greeting": json.RawMessage(`"Welcome to the demo room"`)}})
	f.Systems = []*model.System{sys}
	return f, stop, nil
}

func splitHostPort(addr string) (string, int) {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return host, p
}

func isGitRepo(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ".git"))
	return err == nil
}

// printDemo prints where the demo answers and what to try. The status command names this very
// binary (relative to the working directory when inside it): run from a driver repository,
// there is no bin/engine to call.
func printDemo(out io.Writer, addr string, keys bool) {
	self := "engine"
	if exe, err := os.Executable(); err == nil {
		self = shortPath(exe)
		if !strings.ContainsRune(self, filepath.Separator) {
			self = "." + string(filepath.Separator) + self
		}
	}
	base := "http://" + addr + "/api/engine/v2"
	_, _ = fmt.Fprintf(out, `
engine dev is running.

  API:        %[1]s
  Demo room:  %[1]s/systems/sys-demo/types
  WebSocket:  ws://%[2]s/api/engine/v2/systems/control
  Console:    http://%[2]s/console

Try:
  curl -s -X POST %[1]s/systems/sys-demo/Display_1/power -d '[true]'
  curl -s %[1]s/systems/sys-demo/Display_1
  curl -s -X POST %[1]s/systems/sys-demo/Lighting_1/level -d '{"level": 40}'
  curl -s -X POST %[1]s/systems/sys-demo/Room_1/all_off
  curl -s %[1]s/systems/sys-demo/functions/Camera_1
  %[3]s status --server http://%[2]s
%[4]s
Ctrl-C stops everything.
`, base, addr, self, keysHint(keys))
}

// keysHint is what the printed commands need under --auth keys, which they do not carry: the
// key is the operator's, not the engine's to print.
func keysHint(keys bool) string {
	if !keys {
		return ""
	}
	return `
  (--auth keys: add -H "X-API-Key: <a key of --api-keys>" to each curl line, and set
  ENGINE_API_KEY for the status command.)
`
}
