package main

import (
	"errors"

	"github.com/placeos-go/engine/errkind"
)

// Sentinel errors of the command line. The checks of the parsed flags (options.check) wrap them
// (errkind.Wrap) with a message that names the flag and says what to give instead.
var (
	// errNotLoopback: a listener that has no authentication of its own (the profiler) was given
	// an address other hosts could reach.
	errNotLoopback = errkind.New(errkind.BadRequest, "address is not loopback")
	// errBadFlag: a flag's value, or a combination of flags, that cannot work.
	errBadFlag = errkind.New(errkind.BadRequest, "bad flag")
	// errDegraded: engine status printed its tables, and the cluster is not whole (no leader, a
	// node down or not answering); it exits 1 so that scripts see it.
	errDegraded = errors.New("cluster degraded")
)
