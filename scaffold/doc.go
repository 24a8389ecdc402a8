// Package scaffold writes a new driver that compiles and whose tests pass as written: the driver
// (settings, a connection and poll, one command with a response, statuses), its main.go, harness
// tests with sdk/sdktest in virtual time, a simulated device with its protocol, and a README;
// and, outside a Go module that has the engine, a new driver repository around it (go.mod
// requiring the engine's release with a replace to the engine source, go.sum, .gitignore, README,
// a first git commit). `engine new driver` is its command line.
//
// The templates (templates/, embedded) are one per kind of file; the transports share what they
// can: tcp, udp, ssh and websocket drive the same line protocol ("POWER ON" → "POWER ON"), so
// their driver, tests and simulator differ only where the transport does; http speaks JSON; logic
// drives the other modules of its room. Every Go file is run through gofmt before it is written.
//
// Where the driver goes (Plan):
//   - inside the engine's own checkout: examples/drivers/NAME, in the engine module;
//   - inside a driver repository (a module that requires the engine): drivers/NAME, in that
//     module, whose go.mod is then tidied;
//   - anywhere else: a new repository NAME holding drivers/NAME.
//
// A driver's layout (NAME/): NAME.go, main.go, NAME_test.go, README.md, and for a device
// sim/NAMEsim (the simulator, importable by the tests) and sim/main.go (`go run ./…/sim` serves
// it for a running engine). The simulator lives inside the driver's folder so that the driver is
// self-contained: copying or moving the folder keeps its tests passing.
package scaffold
