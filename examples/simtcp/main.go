package simtcp

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Sim is what Main runs: a simulator built on a Server.
type Sim interface {
	Start()
	Addr() string
	Close() error
}

// Main is a simulator command's life after its flags: it exits on err (from the simulator's
// New), else serves sim until SIGINT or SIGTERM and closes it.
func Main(what string, sim Sim, err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sim.Start()
	fmt.Fprintf(os.Stderr, "%s listening on %s\n", what, sim.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = sim.Close()
}
