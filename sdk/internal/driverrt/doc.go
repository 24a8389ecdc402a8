// Package driverrt hands the runtime of a driver process (the plugin.Driver that sdk.Serve serves)
// to sdk/sdktest and to package sdk's own tests, which run it in-process, without making it part
// of the API a driver author sees: an author calls sdk.Serve and never touches the runtime.
//
// The runtime is built from package sdk's unexported types (its modules, the wiring of sdk.Base,
// the options), so its code stays in package sdk: moving it here would need this package to
// import sdk, which imports this one. This package only names what a caller holds, Runtime, the
// constructor New, and the two mappings between a driver's errors and the wire (ErrorResponse,
// ExecError) that sdktest's mocks and results share with the SDK; package sdk sets them in an
// init. The factory and options cross New as
// any for the same reason; sdk checks their types and reports a mismatch as an error.
package driverrt
