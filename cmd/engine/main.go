package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

const usage = `engine: a clustered engine core for building automation

Usage:
  engine serve [flags]   run a node
  engine dev [flags]     one-command demo: embedded Redis, example drivers, simulated displays
  engine apply -f FILE   create or update model objects on a running cluster (--server URL)
  engine status          nodes, drivers and modules as a table (--server URL)
  engine tls init        the cluster's CA and node certificates (--out DIR --nodes n1,n2,n3)
  engine secrets init --out FILE
                         a new key for --secrets-key-file (the same file on every node)
  engine new driver NAME [--transport tcp|udp|http|ssh|websocket|logic]
                         a driver, its tests and a simulated device that pass at once: in
                         this checkout, in a driver repository, or a new repository
  engine version         the engine release (the tag driver repositories require)
  engine help            this text

Run "engine serve -h" for the flags (each is also read from ENGINE_<NAME>, e.g. ENGINE_HTTP_ADDR).
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	ctx, sig := handleSignals()
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], false, sig)
	case "dev":
		err = serve(ctx, args[1:], true, sig)
	case "apply":
		err = apply(ctx, args[1:])
	case "status":
		err = status(ctx, args[1:])
	case "tls":
		err = tlsCommand(args[1:])
	case "secrets":
		err = secrets(args[1:])
	case "new":
		err = newCommand(ctx, args[1:])
	case "version", "--version":
		printVersion()
		return 0
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "engine: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "engine: %v\n%s\n", err, ue.hint())
		return 2
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "engine: %v\n", err)
		return 1
	}
	return 0
}

// signals turns SIGINT into a plain stop and SIGTERM (what service managers send) into a
// graceful leave of the cluster followed by a stop. A second signal more than a second later
// exits at once; driver processes notice their host is gone and exit by themselves.
type signals struct {
	cancel  context.CancelFunc
	mu      sync.Mutex
	leaveOn bool
}

func handleSignals() (context.Context, *signals) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &signals{cancel: cancel}
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		first := <-ch
		if first == syscall.SIGTERM {
			s.leave()
		} else {
			cancel()
		}
		// The same signal often arrives twice at once (sent to the process and to its group, as
		// `timeout` and some supervisors do); only a later one means "stop now".
		at := time.Now()
		for range ch {
			if time.Since(at) > time.Second {
				fmt.Fprintln(os.Stderr, "engine: second signal, exiting now")
				os.Exit(130)
			}
		}
	}()
	return ctx, s
}

// leave asks the node to leave the cluster and stop.
func (s *signals) leave() {
	s.mu.Lock()
	s.leaveOn = true
	s.mu.Unlock()
	s.cancel()
}

func (s *signals) leaving() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaveOn
}
