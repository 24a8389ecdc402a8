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
// A driver author's loop (devwatch*.go, devsim*.go, watch.go): `engine new driver projector`, then
// `engine dev --watch examples/drivers/projector`, and the driver answers in the demo room on its
// simulated device. FOLDER holds a driver's main package, in this checkout or in a repository of
// its own whose go.mod requires github.com/placeos-go/engine (a replace of it there is dropped:
// builds use --sdk-dir, which defaults to the engine source the binary was built from, found as
// engine new finds it, so a binary outside its checkout works from anywhere). A file, a missing
// folder, or a folder that is no main package is refused at start, naming the drivers below it.
//
//   - One build path: builder.BuildFolder, the builder's compile of a working folder (a verified
//     binary with its SHA-256 sidecar; a *builder.BuildError with the compiler's output). The
//     folder's go.mod and go.sum are never written.
//   - The driver joins the demo model as driver drv-watch-<folder> with module
//     mod-watch-<folder>, appended to sys-demo. The module name is the folder's name capitalised
//     (mydriver → Mydriver, my-projector → MyProjector): Mydriver_1, unless the room has that name
//     already. The module's fields come from the folder's dev.yaml (engine new driver writes one)
//     or --watch-module FILE, which wins: YAML or JSON giving the driver's module_name and role
//     (default device) and the module's fields as a model file has them (ip, port, uri,
//     settings, ...; a logic module's control_system_id defaults to sys-demo), all but id,
//     driver_id and running. A file, rather than flags, because it is the same module an author
//     later writes into a model.
//   - The simulator: when the folder's sim/ is a main package (engine new driver writes one),
//     engine dev builds it with builder.BuildFolder too, once at start, and runs it as its own
//     child process with --addr set to the module's address (ip:port, or the host of its uri), so
//     that dev.yaml alone says where the device is; the scaffold's simulators take that flag. Its
//     output reaches the terminal prefixed "sim | ". It runs in a process group of its own (Ctrl-C
//     reaches engine dev, which stops it with SIGTERM as it stops) and, on Linux, with a
//     parent-death signal, so that not even a killed engine dev leaves it running. One that exits
//     early (its port taken) is reported with the file to change; the driver runs all the same.
//     A change to the simulator's code needs engine dev restarted.
//   - The watch is a session, not part of the model: engine dev removes every drv-watch-* and
//     mod-watch-* an earlier run left in its data directory at start, before anything runs (so a
//     plain engine dev after a watch carries no dead module), and the watch adds its own again on
//     its first build. Removing them at start rather than at stop holds when engine dev was killed.
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
//   - A build whose module does not load (its OnLoad failed, or it crashes at start) prints the
//     engine's error as soon as the start fails (read from the node status: the supervisor names
//     the binary in it, so an older build's error is not taken for the new one's), and says
//     whether an older build still serves. The folder is watched while a build waits to serve:
//     a save then is built at once.
//   - The terminal shows, once the driver is loaded, its module's name and curl lines for an
//     execute (power [true] when the driver is Powerable, else its first function in declaration
//     order needing no argument, else its first; each parameter's default or a value of its type)
//     and its statuses; after each save, the time from the save to the module serving the new
//     build.
package main
