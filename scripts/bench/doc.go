// Package bench holds the engine's benchmarks that need the whole engine: REST execute against
// a direct go-plugin gRPC call to the same driver (the bare baseline), measured side by side in
// one run. Run them with `make bench`; they print a markdown table for the README.
package bench
