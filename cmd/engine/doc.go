// Command engine is the single binary of the engine: `engine serve` runs a node, `engine dev`
// runs a one-command demo (embedded Redis, the example drivers, simulated displays).
//
// `engine new driver NAME [--transport tcp|udp|http|ssh|websocket|logic]` (new.go) writes a
// driver, its harness tests and a simulated device that compile and pass at once (package
// scaffold): in this checkout under examples/drivers, in a driver repository under drivers, or as
// a new repository whose go.mod requires the engine's release and replaces it with the engine
// source the binary was built from. That source is what the Makefile records with -ldflags
// (main.builtFrom), else what the binary's own file paths or build info say (version.go).
// `engine version` prints the release (package version) and that source.
//
// This is the composition root: the only place that constructs concrete types from other
// packages and wires them together.
//
// # engine dev --watch FOLDER
//
// A driver author's loop (devwatch*.go, watch.go). FOLDER holds a driver's main package, in this
// checkout (examples/drivers/display) or in a repository of its own whose go.mod requires
// github.com/placeos-go/engine (a replace of it there is dropped: builds use --sdk-dir).
//
//   - One build path: builder.BuildFolder, the builder's compile of a working folder (a verified
//     binary with its SHA-256 sidecar; a *builder.BuildError with the compiler's output). The
//     folder's go.mod and go.sum are never written.
//   - The driver joins the demo model as driver drv-watch-<folder> with module
//     mod-watch-<folder>, appended to sys-demo. The module name is the folder's name capitalised
//     (mydriver → Mydriver, my-projector → MyProjector): Mydriver_1, unless the room has that name
//     already. --watch-module FILE (YAML or JSON) gives the driver's module_name and role (default
//     device) and the module's fields as a model file has them (ip, port, uri, settings, ...; a
//     logic module's control_system_id defaults to sys-demo), all but id, driver_id and running.
//   - Saves are noticed by polling (fsnotify is no dependency of the engine): every 100 ms, the
//     non-test .go files of the folder and its subfolders (hidden files and folders, names
//     starting with "_" or "#", testdata and nested modules left out) and the module's go.mod and
//     go.sum. A burst of saves settles for 100 ms before the build. A package of the module
//     outside the folder is built in with the next save in the folder.
//   - A build is named by its checksum: a save that leaves the binary as it was moves nothing. A
//     new binary goes into the model through Raft (the driver's binary), and the reconciler moves
//     the module to it with no gap (supervisor.Move); the binaries of earlier saves are removed
//     once no module runs them.
//   - A build that fails prints the compiler's first 10 lines (the log has all of them); the last
//     good build keeps serving, and the next good save recovers.
//   - The terminal shows, once the driver is loaded, its module's name and curl lines for an
//     execute (its first function by name, with each parameter's default or a value of its type)
//     and its statuses; after each save, the time from the save to the module serving the new
//     build.
//   - The driver and its module stay in the dev model (the data directory) when engine dev stops,
//     on their last good build, until deleted (or ./data/dev is).
package main
