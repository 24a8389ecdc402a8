package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
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
		var b strings.Builder
		fs.SetOutput(&b)
		fs.Usage()
		fs.SetOutput(os.Stdout)
		_, _ = io.WriteString(os.Stdout, twoDashes(b.String()))
		return err
	}
	if err != nil {
		if m := badBool.FindStringSubmatch(err.Error()); m != nil {
			return &usageError{command: fs.Name(), err: errors.New(boolRefusal(m[1], m[2]))}
		}
		// The flag package names flags with one dash; every doc and message here uses two.
		text := strings.NewReplacer("for flag -", "for flag --", "not defined: -", "not defined: --", "an argument: -", "an argument: --").Replace(err.Error())
		return &usageError{command: fs.Name(), err: errors.New(text)}
	}
	return nil
}

// badBool is the flag package's refusal of a true/false flag's value, which says only "parse
// error": `invalid boolean value "no" for -driver-spare: parse error`.
var badBool = regexp.MustCompile(`^invalid boolean value ("(?:[^"\\]|\\.)*") for -(\S+): `)

// boolRefusal says what a true/false flag takes, as the environment's refusal does, and the form
// to write when the value typed is a common word for one of them (people type no, off, yes).
func boolRefusal(quoted, name string) string {
	text := fmt.Sprintf("invalid value %s for flag --%s: want true or false (or 1, 0)", quoted, name)
	switch v, _ := strconv.Unquote(quoted); strings.ToLower(v) {
	case "no", "n", "off", "disable", "disabled":
		text += fmt.Sprintf(": --%s=false", name)
	case "yes", "y", "on", "enable", "enabled":
		text += fmt.Sprintf(": --%s=true", name)
	}
	return text
}

// twoDashes is the flag package's listing of flags (PrintDefaults) with each flag named with two
// dashes, as every doc and message here names them.
func twoDashes(listing string) string { return flagLine.ReplaceAllString(listing, "$1--") }

var flagLine = regexp.MustCompile(`(?m)^(  )-`)

// durationFlag is a flag.Value of a time.Duration, as flag.DurationVar, but refusing what people
// type for a duration and Go does not read ("5", "off", "5 min") with what it wants rather than
// "parse error".
// With off, "off" and "never" are read as 0, which such a flag documents as "never".
type durationFlag struct {
	d   *time.Duration
	off bool
}

// String is the duration as people write it: 5m, not 5m0s.
func (f durationFlag) String() string {
	var d time.Duration
	if f.d != nil {
		d = *f.d
	}
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

func (f durationFlag) Set(s string) error {
	s = strings.TrimSpace(s)
	if f.off && (strings.EqualFold(s, "off") || strings.EqualFold(s, "never")) {
		*f.d = 0
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if f.off {
			return errors.New("want a duration with its unit, such as 90s, 5m or 1h30m, or 0 or off for never")
		}
		return errors.New("want a duration with its unit, such as 90s, 5m or 1h30m")
	}
	*f.d = d
	return nil
}

// durationVar defines a duration flag (durationFlag) with a default.
func durationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var(durationFlag{d: p}, name, usage)
}

// durationOffVar is durationVar for a flag whose 0 means never, which also takes "off".
func durationOffVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var(durationFlag{d: p, off: true}, name, usage)
}
