// Command samsungmdc runs the Samsung MDC display simulator (see package mdcsim) until
// interrupted:
//
//	bin/sims/samsungmdc --addr 127.0.0.1:1515 --id 1
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/placeos-go/engine/examples/sims/samsungmdc/mdcsim"
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
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sim.Start()
	fmt.Fprintf(os.Stderr, "Samsung MDC simulator (display id %d) listening on %s\n", *id, sim.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = sim.Close()
}
