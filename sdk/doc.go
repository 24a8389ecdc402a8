// Package sdk is what a driver author imports. A driver is an ordinary Go struct that embeds
// sdk.Base; its exported methods are the functions callers execute. sdk.Serve runs the driver as a
// go-plugin process that hosts many modules (one driver value per module).
//
// The package owns:
//   - metadata derivation (docs/protocol.md §4): the plugin/metadata document built from the Go
//     declarations (function and parameter names, JSON Schema types, defaults, security levels,
//     implemented interfaces, settings schema);
//   - argument binding (docs/protocol.md §5) and the exec result/error shape, including panics;
//   - the module lifecycle (OnLoad/OnUpdate/OnUnload hooks, restart on connection changes);
//   - status with change detection, typed settings (defaults and checks from struct tags), the
//     per-module logger with debug forwarding;
//   - calls, subscriptions and channels to other modules through the host, and the system
//     proxy for logic drivers (by Name_N, by name, by interface, results gathered), which reads
//     the system's modules from the module_info the host sends with the control system;
//   - transports: TCP (+TLS, makebreak, a per-connection handshake), UDP, HTTP client,
//     WebSocket client and SSH shell, with reconnect backoff and the "connected" status;
//     tokenizers that frame the byte stream (delimiters, fixed lengths, header + length +
//     check frames, messages outside the framing);
//   - the per-module command queue (priority, retries with a bonus, named commands, timeouts,
//     delays, offline behaviour) and the scheduler (every / in / cron), both on a Clock that
//     sdktest replaces with a virtual one.
//
// Only what a driver author writes against is exported. The runtime that hosts the modules (the
// plugin.Driver that Serve serves) is reached by sdk/sdktest through sdk/internal/driverrt, and
// the metadata document's types are in plugin/metadata, shared with the engine.
//
// # Functions
//
// An exposed function is an exported method on the driver's pointer type with the shape
//
//	func (d *D) Name([ctx context.Context,] [args ArgsStruct]) ([Result,] [error])
//
// Go reflection cannot see parameter names, so the fields of the argument struct are the
// parameters, in declaration order. The wire name of a parameter is its json tag name, else the
// snake_case of the field name; the wire name of a function is the snake_case of the method name
// (SwitchTo -> switch_to). Field tags: default:"<JSON literal>" (a bare word is accepted for
// string fields), minimum, maximum, enum:"a,b", description. Embedding sdk.Support or
// sdk.Administrator in the argument struct sets the function's security level.
//
// Function order: reflection lists methods alphabetically, so the SDK orders functions by their
// source position (file, then line) read from the binary's line table, which gives declaration
// order within a file. Methods whose position cannot be found (rare promoted wrappers) follow in
// alphabetical order. Parameter order is always declaration order, which positional binding needs.
//
// Methods that are hooks (OnLoad, OnUpdate, OnUnload, Received, Connected, Disconnected), that
// come from sdk.Base, or whose signature does not fit the shape above are not exposed; the latter
// are reported in a warning at start-up so an author notices.
//
// # Errors
//
// Error is the one error type a driver author meets: a function returns one to choose the code
// and class its caller gets (Errorf(409, ...) or &Error{Status: 400, Kind: "ERR2", Err: err}); a
// call of another module that failed returns one with that module's code, class, message and
// backtrace (Base.Exec, Proxy.Exec); sdktest reports a failed exec as one. Arguments that do not
// bind are refused before the function runs with a message naming the function and parameter,
// and JSON that does not parse with the problem and its byte offset; an unknown function with
// the names it was probably meant to be (wire names are snake_case). Error.RetryAfter tells the
// caller of a 503 when to try again (REST's Retry-After).
//
// # Settings and OnLoad
//
// The settings type declared with SettingsType takes the parameters' tags on its fields
// (default, minimum, maximum, enum, description) and secret:"true" for a password: they go into
// the metadata's settings schema, and Base.Settings applies the defaults and refuses a value out
// of range with an error naming the setting. OnLoad returning such an error (any error) means
// the module cannot run: it is stopped again, the engine lists it as failed with the error and
// starts it later, and a call answers 503 with it. So OnLoad returns configuration errors only;
// a device that does not answer yet is the transport's business (it reconnects). A settings
// update outside the declared type's range is refused before OnUpdate runs (the engine's Update
// fails with why; the module runs on with the settings it had). An OnUpdate
// error is logged and the module runs on with what it had.
//
// # Logging
//
// Log(ctx) is the logger to use inside a function: the module's logger (Base.Logger) with the
// request_id and user of the call, so a request can be followed from the engine node that
// received it into the driver's own lines. The SDK's own lines about a call (rejected arguments,
// failures, panics) carry them too. The driver logs at ENGINE_DRIVER_LOG_LEVEL, which the engine
// sets to its --log-level.
//
// # Stdout
//
// go-plugin writes its handshake line to stdout (fd 1, read by the host), and right after the
// handshake it replaces os.Stdout with a pipe that is streamed to the host over gRPC and
// discarded there unless the host sets ClientConfig.SyncStdout (verified in go-plugin v1.8.0
// server.go). So a stray fmt.Println cannot corrupt the protocol once serving. Before that, Serve
// points os.Stdout at stderr while it prepares (options, metadata) and restores it only for
// go-plugin's handshake; driver values are created only on Start, after the handshake. Only
// package init code and writes to fd 1 by raw syscalls are outside this protection. Driver log
// lines go to stderr as hclog JSON, which go-plugin lifts into the host log.
package sdk
