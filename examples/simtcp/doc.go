// Package simtcp is the TCP side the example simulators share (displaysim, mdcsim, pjlinksim,
// extronsim): a listener that serves every connection in its own goroutine, counts the open
// ones, drops them on demand (a simulated reboot or pulled cable) and closes with every
// goroutine waited for; and Main, a simulator command's life after its flags. What a simulator
// says on a connection is its own.
//
// It lives outside examples/sims, where every folder is built as a simulator command, and is not
// internal, so a simulator copied into a driver repository of its own still builds.
package simtcp
