package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/examples/sims/display/displaysim"
	"github.com/placeos-go/engine/model"
)

// demoModel starts the simulated displays and returns the demo model that uses them: system
// sys-demo with Display_1..Display_N and Room_1.
func demoModel(o *options, log hclog.Logger) (*model.File, func(), error) {
	for _, name := range []string{"display", "room"} {
		if _, err := os.Stat(filepath.Join(o.DriverDir, name)); err != nil {
			return nil, nil, fmt.Errorf("example driver %q not found in %s: run `make build` first (or `make run`)", name, o.DriverDir)
		}
	}
	var sims []*displaysim.Sim
	stop := func() {
		for _, s := range sims {
			_ = s.Close()
		}
	}
	f := &model.File{
		Drivers: []*model.Driver{
			{ID: "drv-display", Name: "Example Display", ModuleName: "Display", Role: model.RoleDevice, Binary: "display", DefaultPort: 4999},
			{ID: "drv-room", Name: "Example Room", ModuleName: "Room", Role: model.RoleLogic, Binary: "room"},
		},
	}
	sys := &model.System{ID: "sys-demo", Name: "Demo room", Description: "engine dev demo system"}
	for i := 1; i <= o.Displays; i++ {
		sim, err := displaysim.New("127.0.0.1:0")
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("display simulator: %w", err)
		}
		sim.Start()
		sims = append(sims, sim)
		host, port, _ := net.SplitHostPort(sim.Addr())
		p, _ := strconv.Atoi(port)
		id := fmt.Sprintf("mod-display-%d", i)
		f.Modules = append(f.Modules, &model.Module{
			ID: id, DriverID: "drv-display", IP: host, Port: p, Running: true,
			Notes: fmt.Sprintf("simulated display %d", i),
		})
		sys.Modules = append(sys.Modules, id)
		log.Info("display simulator running", "module", id, "addr", sim.Addr())
	}
	f.Modules = append(f.Modules, &model.Module{
		ID: "mod-room", DriverID: "drv-room", ControlSystemID: "sys-demo", Running: true,
		Settings: model.Settings{"greeting": json.RawMessage(`"Welcome to the demo room"`)},
	})
	sys.Modules = append(sys.Modules, "mod-room")
	f.Systems = []*model.System{sys}
	return f, stop, nil
}

func printDemo(addr string) {
	base := "http://" + addr + "/api/engine/v2"
	fmt.Printf(`
engine dev is running.

  API:        %[1]s
  Demo room:  %[1]s/systems/sys-demo/types

Try:
  curl -s -X POST %[1]s/systems/sys-demo/Display_1/power -d '[true]'
  curl -s %[1]s/systems/sys-demo/Display_1
  curl -s -X POST %[1]s/systems/sys-demo/Room_1/power -d '{"state": false}'
  curl -s %[1]s/systems/sys-demo/functions/Display_1

Ctrl-C stops everything.
`, base)
}
