// Command lighting runs the HTTP lighting gateway simulator (see package lightingsim):
//
//	bin/sims/lighting --addr 127.0.0.1:8089 --password secret
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/placeos-go/engine/examples/sims/lighting/lightingsim"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8089", "listen address")
	password := flag.String("password", "", "require basic auth with this password")
	flag.Parse()
	sim, err := lightingsim.New(*addr, *password)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "lighting gateway simulator on %s\n", sim.URL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = sim.Close()
}
