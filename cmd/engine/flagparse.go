package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
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
		// The flag package names flags with one dash; every doc and message here uses two.
		text := strings.NewReplacer("for flag -", "for flag --", "not defined: -", "not defined: --", "an argument: -", "an argument: --").Replace(err.Error())
		return &usageError{command: fs.Name(), err: errors.New(text)}
	}
	return nil
}

// durationFlag is a flag.Value of a time.Duration, as flag.DurationVar, but refusing what people
// type for a duration and Go does not read ("5", "off", "5 min") with what it wants rather than
// "parse error".
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("want a duration with its unit, such as 90s, 5m or 1h30m, not %q", s)
	}
	*f.d = d
	return nil
}

// durationVar defines a duration flag (durationFlag) with a default.
func durationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var(durationFlag{p}, name, usage)
}
