// Command extron runs the Extron SIS matrix switcher simulator (see package extronsim) until
// interrupted:
//
//	bin/sims/extron --addr 127.0.0.1:2023 --password secret --inputs 8 --outputs 4
package main

import (
	"flag"
	"time"

	"github.com/placeos-go/engine/examples/sims/extron/extronsim"
	"github.com/placeos-go/engine/examples/simtcp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2023", "listen address (a real switcher's telnet port is 23)")
	var o extronsim.Options
	flag.StringVar(&o.Password, "password", "", "ask for this password after the banner")
	flag.IntVar(&o.Inputs, "inputs", 8, "number of inputs")
	flag.IntVar(&o.Outputs, "outputs", 4, "number of outputs")
	flag.StringVar(&o.Model, "model", "DXP 84 HDMI", "model name in the banner")
	flag.DurationVar(&o.IdleTimeout, "idle", 5*time.Minute, "close a connection silent for this long (0: never)")
	flag.Parse()
	sim, err := extronsim.New(*addr, o)
	simtcp.Main("Extron SIS switcher simulator", sim, err)
}
