package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/placeos-go/engine/scaffold"
	"github.com/placeos-go/engine/version"
)

const newUsage = "usage: engine new driver NAME [--transport tcp|udp|http|ssh|websocket|logic] [--dir DIR] [--module PATH] [--sdk-dir DIR]"

// newFlags declares the flags of `engine new driver`; flagdocs_test.go checks that the README
// documents each.
func newFlags() (*flag.FlagSet, *newOptions) {
	o := &newOptions{}
	fs := flag.NewFlagSet("engine new driver", flag.ContinueOnError)
	fs.StringVar(&o.transport, "transport", "tcp", "how the driver reaches its device: tcp, udp, http, ssh, websocket, or logic (a module driving its room's other modules)")
	fs.StringVar(&o.dir, "dir", "", "the driver's folder inside a module that has the engine, else the new repository's (default: examples/drivers/NAME in the engine's checkout, drivers/NAME in a driver repository, ./NAME elsewhere)")
	fs.StringVar(&o.module, "module", "", "module path of a new repository (default: example.com/NAME)")
	fs.StringVar(&o.sdkDir, "sdk-dir", "", "engine source a new repository's go.mod replaces the engine with (default: the source this binary was built from)")
	return fs, o
}

type newOptions struct{ transport, dir, module, sdkDir string }

// newCommand runs `engine new driver NAME`: a driver, its tests and a simulated device that
// compile and pass at once (package scaffold).
func newCommand(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(newUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		return printNewUsage()
	}
	if args[0] != "driver" {
		// engine new NAME: the author meant a driver, the only thing engine new makes.
		if scaffold.CheckName(args[0]) == nil {
			return fmt.Errorf("engine new makes a driver: engine new driver %s (%s)", args[0], newUsage)
		}
		return fmt.Errorf("engine new makes drivers only, not %q (%s)", args[0], newUsage)
	}
	fs, o := newFlags()
	fs.Usage = func() { _ = printNewUsage() }
	// The name may come before the flags or after them (flag stops at the first argument).
	args = args[1:]
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q (%s)", rest[0], newUsage)
	}
	if name == "" {
		return fmt.Errorf("the driver's NAME is missing: lower-case letters and digits, such as projector (%s)", newUsage)
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	source := o.sdkDir
	if source != "" {
		if source, err = checkEngineSource(source); err != nil {
			return fmt.Errorf("--sdk-dir: %w", err)
		}
	} else {
		source = engineSource()
	}
	r, err := scaffold.New(ctx, scaffold.Options{
		Name: name, Transport: scaffold.Transport(o.transport), WorkDir: wd, Dir: o.dir, Module: o.module,
		EngineTag: version.Tag, EngineSource: source,
	})
	if r != nil {
		fmt.Print(r.Summary(wd, typedCommand()))
		for _, n := range r.Notes {
			fmt.Fprintln(os.Stderr, "engine: note:", n)
		}
	}
	return err
}

// printNewUsage answers engine new --help (or engine new driver --help): the usage and the flags.
func printNewUsage() error {
	fs, _ := newFlags()
	var b strings.Builder
	fs.SetOutput(&b)
	fmt.Println(newUsage)
	fs.PrintDefaults()
	_, err := io.WriteString(os.Stdout, twoDashes(b.String()))
	return err
}

// typedCommand is this binary as the author typed it (bin/engine), for the commands the summary
// suggests: "engine" when it was found on the PATH, or is a temporary one of go run.
func typedCommand() string {
	typed := os.Args[0]
	if !strings.ContainsRune(typed, filepath.Separator) {
		return "engine"
	}
	if abs, err := filepath.Abs(typed); err == nil && strings.HasPrefix(abs, filepath.Join(os.TempDir(), "go-build")) {
		return "engine"
	}
	return typed
}
