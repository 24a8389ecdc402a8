package simtcp

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Sim is what Main runs: a simulator built on a Server.
type Sim interface {
	LogConnections(w io.Writer, what string)
	Start()
	Addr() string
	Close() error
}

// Main is a simulator command's life after its flags: it exits on err (from the simulator's
// New), else serves sim until SIGINT or SIGTERM and closes it. A command logs every client that
// connects or goes on stderr (tests that run a simulator in-process log nothing).
func Main(what string, sim Sim, err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sim.LogConnections(os.Stderr, what)
	sim.Start()
	fmt.Fprintf(os.Stderr, "%s listening on %s\n", what, sim.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = sim.Close()
}
