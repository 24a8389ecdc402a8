// Command samsungmdc runs the Samsung MDC display simulator (see package mdcsim) until
// interrupted, logging each client that connects or goes on stderr:
//
//	bin/sims/samsungmdc --addr 127.0.0.1:1515 --id 1
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/placeos-go/engine/examples/sims/samsungmdc/mdcsim"
	"github.com/placeos-go/engine/examples/simtcp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1515", "listen address (MDC's port is 1515)")
	id := flag.Int("id", 0, "display id, 0-253")
	flag.Parse()
	if *id < 0 || *id > 253 {
		fmt.Fprintf(os.Stderr, "--id %d: want 0-253\n", *id)
		os.Exit(2)
	}
	sim, err := mdcsim.New(*addr, byte(*id))
	simtcp.Main(fmt.Sprintf("Samsung MDC simulator (display id %d)", *id), sim, err)
}
