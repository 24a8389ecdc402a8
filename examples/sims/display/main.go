// Command display runs the TCP display simulator (see package displaysim) until interrupted,
// logging each client that connects or goes on stderr:
//
//	bin/sims/display --addr 127.0.0.1:4999
package main

import (
	"flag"

	"github.com/placeos-go/engine/examples/sims/display/displaysim"
	"github.com/placeos-go/engine/examples/simtcp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4999", "listen address")
	flag.Parse()
	sim, err := displaysim.New(*addr)
	simtcp.Main("display simulator", sim, err)
}
