package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// usageError is a command line the flag package refused (an unknown flag, a value a flag does
// not accept). run prints it once with where the flags are listed and exits 2, rather than the
// flag package's error, every flag (a hundred lines) and the error again.
type usageError struct {
	command string // "engine serve", as the FlagSet is named
	err     error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// hint is the line printed after the error.
func (e *usageError) hint() string {
	return fmt.Sprintf("run %q for every flag", e.command+" --help")
}

// parseFlags is fs.Parse for every subcommand: --help prints the flags on stdout (exit 0, through
// flag.ErrHelp); any other refusal is a *usageError and prints nothing here.
func parseFlags(fs *flag.FlagSet, args []string) error {
	// The flag package calls Usage on every refusal; only --help shows it.
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stdout)
		fs.Usage()
		return err
	}
	if err != nil {
		return &usageError{command: fs.Name(), err: err}
	}
	return nil
}
