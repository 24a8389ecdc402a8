package sdk

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/plugin"
)

// Serve runs the driver as a plugin process until the host stops it or goes away. factory makes
// one driver value per module. Run by hand with --metadata (or -m), the binary prints its metadata
// JSON to stdout and exits, which lets tooling inspect a driver without a host.
func Serve[D Driver](factory func() D, opts ...Option) {
	handshake := os.Stdout
	// Anything driver code prints before go-plugin takes over stdout goes to stderr instead of
	// corrupting the handshake line the host parses.
	os.Stdout = os.Stderr

	if lvl := os.Getenv("ENGINE_DRIVER_LOG_LEVEL"); lvl != "" {
		opts = append(opts, LogLevel(hclog.LevelFromString(lvl)))
	}
	rt, err := newRuntime(reflect.TypeFor[D](), func() Driver { return factory() }, buildOptions(opts))
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(2)
	}
	for _, a := range os.Args[1:] {
		if a == "--metadata" || a == "-m" {
			_, _ = handshake.Write(append(rt.metaRaw, '\n'))
			os.Exit(0)
		}
	}
	rt.exit = func() {
		// Give gRPC a moment to deliver Terminate's reply; the host kills the process anyway
		// if it is still there later.
		time.AfterFunc(200*time.Millisecond, func() { plugin.Exit(0) })
	}
	os.Stdout = handshake
	plugin.Serve(rt, rt.log)
	rt.stopAll(context.Background())
	_ = rt.Close()
}
