// Command pjlink runs the PJLink class 1 projector simulator (see package pjlinksim) until
// interrupted:
//
//	bin/sims/pjlink --addr 127.0.0.1:4352 --password secret --warm-up 20s --cool-down 10s
package main

import (
	"flag"
	"time"

	"github.com/placeos-go/engine/examples/sims/pjlink/pjlinksim"
	"github.com/placeos-go/engine/examples/simtcp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4352", "listen address (PJLink's port is 4352)")
	var o pjlinksim.Options
	flag.StringVar(&o.Password, "password", "", "require PJLink authentication with this password")
	flag.DurationVar(&o.WarmUp, "warm-up", 20*time.Second, "how long the projector warms up after power on")
	flag.DurationVar(&o.CoolDown, "cool-down", 10*time.Second, "how long the projector cools down after power off")
	flag.DurationVar(&o.IdleTimeout, "idle", 30*time.Second, "close a connection silent for this long (0: never)")
	flag.Parse()
	sim, err := pjlinksim.New(*addr, o)
	simtcp.Main("PJLink projector simulator", sim, err)
}
