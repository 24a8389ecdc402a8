package builder

import (
	"errors"
	"fmt"

	"github.com/placeos-go/engine/errkind"
)

// Sentinel errors; each wraps an errkind so httpapi can map it without importing this package.
var (
	// ErrInvalid: a driver path that is no folder at the commit being built. Fields refused
	// before git or go runs are the model's own errors (*model.FieldError, model.ErrInvalid):
	// the builder applies the model's rules rather than rules of its own.
	ErrInvalid = errkind.New(errkind.BadRequest, "invalid")
	// ErrRepositoryUnavailable means a repository is not cloned (yet): cloning failed or is
	// still being retried. Status says why.
	ErrRepositoryUnavailable = errkind.New(errkind.Unavailable, "repository unavailable")
	// ErrRevisionNotFound means a branch or commit does not exist in the repository, even after
	// a fetch. It reaches callers of the management routes (recompile), which name what the model
	// points at and cannot find not_found (errkind.EntityNotFound, still an errkind.NotFound).
	ErrRevisionNotFound = errkind.New(errkind.EntityNotFound, "revision not found")
	// ErrAmbiguousCommit means a commit prefix is shared by more than one commit of the
	// repository: the model must give more digits.
	ErrAmbiguousCommit = errkind.New(errkind.BadRequest, "ambiguous commit")
	// ErrBuildFailed is wrapped by *BuildError: the driver did not compile (the source's fault,
	// so a bad request rather than an engine failure).
	ErrBuildFailed = errkind.New(errkind.BadRequest, "build failed")
	// ErrBuildTimeout means a build ran longer than Config.BuildTimeout.
	ErrBuildTimeout = errkind.New(errkind.Timeout, "build timed out")
	// ErrChecksumMismatch means a binary on disk no longer matches the SHA-256 recorded when it
	// was built: it was changed after the build and must not be launched.
	ErrChecksumMismatch = errkind.New(errkind.Internal, "binary checksum mismatch")
	// ErrNoModule means no go.mod was found at or above the driver path inside the repository.
	ErrNoModule = errkind.New(errkind.BadRequest, "driver path is not inside a Go module")
	// ErrTooLarge means a repository holds more than a builder limit allows (Config.MaxFileBytes,
	// MaxExportBytes, MaxExportFiles, MaxPackBytes); the message names the limit and the file.
	ErrTooLarge = errkind.New(errkind.BadRequest, "repository over a builder limit")
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errkind.New(errkind.Unavailable, "builder closed")
)

// BuildError is a failed compilation with the compiler's output.
type BuildError struct {
	Path   string // driver path, or the folder BuildFolder built
	Commit string // full commit; "" for a folder
	Output string // combined stdout/stderr of the go tool (tail, bounded)
	Err    error  // the underlying cause (exit status, timeout)
}

func (e *BuildError) Error() string {
	if e.Commit == "" { // a working folder (BuildFolder)
		return fmt.Sprintf("build of %s failed: %v\n%s", e.Path, e.Err, e.Output)
	}
	return fmt.Sprintf("build of %s at %s failed: %v\n%s", e.Path, short(e.Commit), e.Err, e.Output)
}

// Unwrap reports the cause and, unless the build timed out (ErrBuildTimeout is its own kind),
// ErrBuildFailed, so that each BuildError has exactly one errkind.
func (e *BuildError) Unwrap() []error {
	if errors.Is(e.Err, ErrBuildTimeout) {
		return []error{e.Err}
	}
	return []error{ErrBuildFailed, e.Err}
}

func short(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}
