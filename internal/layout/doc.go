// Package layout holds the house rules of the engine's packages, checked: which package may
// import which (the layering of the host side, cmd/engine as the one composition root, test
// helpers kept out of production code) and that every package has a doc.go saying what it owns.
//
// The rules are tables in layout_test.go, each with its reason; `go test ./internal/layout/`
// checks them against the module's real import graph. The driver side (sdk, plugin) has its own
// guard, sdk/imports_test.go. The package has no code beyond this file.
package layout
