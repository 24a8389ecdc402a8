package version

// Module is the engine's module path, which driver repositories require.
const Module = "github.com/placeos-go/engine"

// Number is the engine's release, semantic versioning without the "v".
const Number = "0.1.0"

// Tag is the git tag, and the module version, of Number.
const Tag = "v" + Number
