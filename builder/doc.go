// Package builder keeps driver repositories present on this node and compiles the drivers that
// modules use.
//
// It owns two folders of the data directory:
//
//	<data-dir>/repositories/<repository id>   bare go-git clones (full history); they survive restarts
//	<data-dir>/drivers/<path-slug>_<commit7>_<os>-<arch>          compiled driver binaries
//	<data-dir>/drivers/<folder>_dev-<sha7>_<os>-<arch>            BuildFolder's, named by their own checksum
//	<data-dir>/drivers/<...>.json             sidecar: full commit, repository, path, SHA-256, and
//	                                          the ids of the drivers handed the binary (LastGood)
//	<data-dir>/builds/                        per-build exports of a driver's module at one commit (temporary)
//	<data-dir>/builds/run/<pid>.pid           one per running go command (below)
//	<data-dir>/builds/tmp/                    the go command's TMPDIR (its go-build*, go-link-* folders)
//
// A build never touches the clone's files: it exports the driver's Go module at the exact commit
// (the subtree of the nearest folder at or above the driver's path that holds a go.mod) into a
// build directory of its own, points the driver module's requirement on github.com/placeos-go/engine at
// the engine's own source (Config.SDKDir) with a `replace`, and runs `go build -trimpath` without a
// shell and with a clean environment. The binary's SHA-256 is written to a sidecar next to it, so
// a restarted node trusts nothing it cannot re-check: Verify and SecureConfig compare the file
// against the recorded checksum before a launch.
//
// BuildFolder builds an author's working folder instead of a commit (`engine dev --watch`), on the
// same path (runCompile): the folder's go.mod and go.sum are copied and the build reads the copies
// (go build -modfile), so nothing in the folder is written; Discard removes such a binary once no
// module runs it. A package that is not main is refused before the compiler runs, on both paths.
//
// Builds are single-flight per (driver path, commit), limited by Config.MaxParallel and bounded by
// Config.BuildTimeout; a failed build keeps the compiler output (BuildError, Status) and is not
// retried for the same commit until Config.FailureRetry passes or Rebuild is called.
//
// A build dies with the engine. The go command runs in its own process group with Pdeathsig
// SIGKILL (started on a thread that lives until it exits: the signal follows the thread that
// started it), and with ENGINE_BUILD_INSTANCE=<random mark> in its environment, which the
// compilers it starts inherit. A compiler the killed go command had started runs on until its
// step ends, or until the next start: New kills every process the pid files in builds/run name
// by group or mark, before it removes the build folders they write in, unless the engine that
// started the go command still runs (a data directory copied from a live node: one INFO line).
// It then removes the go-build* and go-link-* folders in builds/tmp, which a killed go command
// never removes itself (one DEBUG line names them): real folders only, and nothing when builds/tmp
// is itself a symlink, so the sweep never reaches outside the data directory.
//
// Repositories given to SetRepositories are cloned in the background, retried with exponential
// backoff when cloning or fetching fails, and fetched every Config.FetchInterval. Sync fetches one
// on demand (the pull route). A clone or fetch takes at most Config.GitTimeout, and over HTTP(S)
// fails sooner when the server is silent for Config.GitStallTimeout (githttp.go: go-git has no
// per-call HTTP client, so the package installs its own for http and https at init).
//
// A commit (a driver's, or a repository's pin) is an object id only: the full id, or a prefix
// that one commit alone has. A branch or tag named like it is never read instead (anyone who may
// push can make one), a missing commit is fetched once and is then an error, and a prefix that
// several commits share is refused (ErrAmbiguousCommit). Branches come from the repository's
// branch.
//
// A failed clone or fetch is told (status, errors, log) without the credentials of the
// repository's URI, in whichever form the git and HTTP libraries quote the URL (redactError).
//
// A repository is untrusted input to the engine's own process, so what git brings is bounded
// (Config): a clone or fetch receives its pack into a file and reads the object headers before
// go-git indexes it (go-git holds each object of a pack whole while it indexes), refusing an
// object over MaxFileBytes and a pack over MaxPackBytes, as sent or unpacked; an export streams
// blobs to disk, checks each size before reading it, stops at MaxFileBytes, MaxExportBytes or
// MaxExportFiles with ErrTooLarge naming the limit and the file, and stops when the build's
// context ends. A repository SetRepositories drops has its go-git handle closed.
//
// Everything that reaches git or go from the model is validated first, with the model's own rules
// (model.ValidateRepository, ValidateDriverSource, ValidateDriverPath, ValidateBranch,
// ValidateCommit), the same that refuse a bad model write: no path traversal, no option
// injection.
package builder
