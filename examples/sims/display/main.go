// Command display runs the TCP display simulator (see package displaysim) until interrupted:
//
//	bin/sims/display --addr 127.0.0.1:4999
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/placeos-go/engine/examples/sims/display/displaysim"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4999", "listen address")
	flag.Parse()
	sim, err := displaysim.New(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sim.Start()
	fmt.Fprintf(os.Stderr, "display simulator listening on %s\n", sim.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = sim.Close()
}
