// Command camera runs the VISCA over IP camera simulator (see package camerasim) until
// interrupted:
//
//	bin/sims/camera --addr 127.0.0.1:52381
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/placeos-go/engine/examples/sims/camera/camerasim"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:52381", "UDP listen address")
	flag.Parse()
	sim, err := camerasim.New(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "camera simulator (VISCA over IP) on udp %s\n", sim.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = sim.Close()
}
