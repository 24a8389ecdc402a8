// Package scaffold writes a new driver that compiles and whose tests pass as written: the driver
// (settings, a connection and poll, one command with a response, statuses), its main.go, harness
// tests with sdk/sdktest in virtual time, a simulated device with its protocol, and a README;
// and, outside a Go module that has the engine, a new driver repository around it (go.mod
// requiring the engine's release with a replace to the engine source, go.sum, .gitignore, README,
// a first git commit). `engine new driver` is its command line.
//
// The templates (templates/, embedded) are one per kind of file; the transports share what they
// can: tcp, udp, ssh and websocket speak the same line protocol ("POWER ON" → "POWER ON"), so
// their driver, tests and simulator differ only where the transport does (the TCP and SSH
// simulators keep their connections with examples/simtcp); http speaks JSON; logic drives the
// other modules of its room. Every Go file is gofmt-formatted before it is written.
//
// Where the driver goes (MakePlan) depends on the Go module around the working directory:
//   - the engine's own checkout: examples/drivers/NAME, in the engine module;
//   - a driver repository (a module that requires the engine): drivers/NAME, in that module,
//     whose go.mod is then tidied;
//   - anywhere else: a new repository NAME holding drivers/NAME.
//
// A driver's folder: NAME.go, main.go, NAME_test.go, README.md, dev.yaml (the module `engine dev
// --watch` runs it as: the simulator's address and the settings), and for a device sim/NAMEsim
// (the simulator, which the tests import) and sim/main.go (which engine dev --watch starts on
// the module's address with --addr). The simulator lives inside the driver's folder so that the
// driver is self-contained: moving or copying the folder keeps its tests passing, and engine dev
// finds it.
//
// A new repository's go.mod starts with the engine's own requirements as indirect ones, which
// go mod tidy prunes: tidy then finds every version in the module cache, at the versions the
// engine was tidied with, instead of looking up on the network the latest of the modules that
// only tests of the engine's dependencies import. Refusals are ErrInvalid, before anything is
// written.
package scaffold
