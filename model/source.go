package model

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// The rules for the fields of a repository or a driver that reach git, the go tool or the file
// system (docs/protocol.md §2.3). They live with the model so that there is one validator: a
// write that breaks them is refused by Validate (a 400 at the management API, an error from
// `engine apply`), and package builder applies the same functions again before every clone,
// fetch and build, since a repository or driver can reach it without a write (a ref from a
// pull, a model replayed from an older engine).

// componentPattern limits driver path components to characters that are safe in a file name and
// keep the binary name's slug unambiguous (the builder writes '/' as '+').
var componentPattern = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_.-]*$`)

var commitPattern = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

var uriSchemes = map[string]bool{"https": true, "http": true, "ssh": true, "git": true, "file": true}

// scpLike is git's user@host:path form for SSH (no scheme, a colon before any slash).
var scpLike = regexp.MustCompile(`^(?:([A-Za-z0-9._~-]+)@)?([A-Za-z0-9.-]+):(.*)$`)

// FieldError is a field that git, the go tool or the file system would misread. It is an
// ErrInvalid (so an errkind.BadRequest).
type FieldError struct {
	Entity string // "repository" or "driver"
	Field  string // the JSON field: "id", "uri", "branch", "commit", "path"
	Value  string // as given, except that credentials in a URI are hidden (RedactURI)
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid %s.%s %q: %s", e.Entity, e.Field, e.Value, e.Reason)
}

// Unwrap makes every FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// fieldError is nil when reason is empty (the field passed its rule).
func fieldError(entity, field, value, reason string) error {
	if reason == "" {
		return nil
	}
	return &FieldError{Entity: entity, Field: field, Value: value, Reason: reason}
}

// ValidID reports whether id is a valid entity id. A repository id names a folder of the data
// directory, so the builder asks too.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// IsCommit reports whether ref has the form of a commit id: 7 to 40 lower-case hex digits.
func IsCommit(ref string) bool { return commitPattern.MatchString(ref) }

// ValidateRepository checks the fields of a repository that reach the file system or git (id,
// uri, branch, commit) and returns the first problem.
func ValidateRepository(r Repository) error {
	if !ValidID(r.ID) {
		return fieldError("repository", "id", r.ID, "must match "+idPattern.String())
	}
	if err := ValidateURI(r.URI); err != nil {
		return err
	}
	if r.Branch != "" {
		if err := ValidateBranch(r.Branch); err != nil {
			return err
		}
	}
	if r.Commit != "" {
		return fieldError("repository", "commit", r.Commit, commitProblem(r.Commit))
	}
	return nil
}

// ValidateDriverSource checks the fields of a repository driver that reach the file system or
// the go tool (path, commit) and returns the first problem.
func ValidateDriverSource(d Driver) error {
	if err := ValidateDriverPath(d.Path); err != nil {
		return err
	}
	if d.Commit != "" {
		return ValidateCommit(d.Commit)
	}
	return nil
}

// ValidateURI accepts https, http, ssh, git and file URLs, git's scp-like SSH form
// (git@host:org/repo.git) and absolute local paths. Nothing may start with '-', which git would
// read as an option, and no part may carry whitespace or control characters.
func ValidateURI(uri string) error {
	return fieldError("repository", "uri", RedactURI(uri), uriProblem(uri))
}

// ValidateBranch applies git check-ref-format's rules to a branch name, and refuses a leading
// '-' so that the name can never be read as an option.
func ValidateBranch(b string) error {
	return fieldError("repository", "branch", b, branchProblem(b))
}

// ValidateCommit checks a driver's commit id: 7 to 40 lower-case hex digits.
func ValidateCommit(c string) error {
	return fieldError("driver", "commit", c, commitProblem(c))
}

// ValidateDriverPath checks a driver's folder inside its repository: relative, clean, no '..',
// no component starting with '-', only [A-Za-z0-9_.-] in a component. "." is the repository root.
func ValidateDriverPath(p string) error {
	return fieldError("driver", "path", p, driverPathProblem(p))
}

// The problem functions below are the rules themselves: each returns why its value is refused,
// or "" when it passes. Validate reports them per entity; the Validate* functions above as a
// FieldError.

func uriProblem(uri string) string {
	switch {
	case uri == "":
		return "is required"
	case strings.HasPrefix(uri, "-"):
		return "must not start with '-'"
	case hasControlOrSpace(uri):
		return "must not contain whitespace or control characters"
	case strings.Contains(uri, "::"):
		// git's transport helpers (ext::, fd::) run arbitrary commands.
		return "transport helpers (::) are not allowed"
	}
	if strings.HasPrefix(uri, "/") {
		if path.Clean(uri) != uri {
			return "local path must be clean (no '..', '//' or '.')"
		}
		return ""
	}
	if !strings.Contains(uri, "://") {
		if m := scpLike.FindStringSubmatch(uri); m != nil && !strings.Contains(m[1]+m[2], "/") {
			if strings.HasPrefix(m[2], "-") || strings.HasPrefix(m[3], "-") {
				return "host and path must not start with '-'"
			}
			return ""
		}
		return "must be an absolute path or a URL with scheme https, http, ssh, git or file"
	}
	u, err := url.Parse(uri)
	if err != nil {
		// url's message quotes the URI: say what is wrong without repeating it (a password).
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return "does not parse: " + err.Error()
	}
	if !uriSchemes[u.Scheme] {
		return "scheme must be https, http, ssh, git or file"
	}
	if u.Scheme == "file" {
		if u.Host != "" && u.Host != "localhost" {
			return "file URL must not name a host"
		}
		if !strings.HasPrefix(u.Path, "/") || path.Clean(u.Path) != u.Path {
			return "file URL must name a clean absolute path"
		}
		return ""
	}
	if u.Hostname() == "" {
		return "must name a host"
	}
	if strings.HasPrefix(u.Hostname(), "-") || strings.HasPrefix(u.User.Username(), "-") {
		return "host and user must not start with '-'"
	}
	return ""
}

func branchProblem(b string) string {
	switch {
	case b == "":
		return "is empty"
	case b == "@":
		return "must not be '@'"
	case strings.HasPrefix(b, "-"):
		return "must not start with '-'"
	case strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/"):
		return "must not start or end with '/'"
	case strings.HasSuffix(b, "."):
		return "must not end with '.'"
	case strings.Contains(b, ".."), strings.Contains(b, "//"), strings.Contains(b, "@{"):
		return "must not contain '..', '//' or '@{'"
	case strings.ContainsAny(b, " ~^:?*[\\"):
		return "must not contain space, ~ ^ : ? * [ or \\"
	case hasControlOrSpace(b):
		return "must not contain control characters"
	}
	for _, c := range strings.Split(b, "/") {
		if strings.HasPrefix(c, ".") {
			return "no component may start with '.'"
		}
		if strings.HasSuffix(c, ".lock") {
			return "no component may end with '.lock'"
		}
	}
	return ""
}

func commitProblem(c string) string {
	switch {
	case IsCommit(c):
		return ""
	case c != "" && strings.Trim(c, "0123456789.e+-") == "":
		// What is left of a number: a YAML model file's unquoted 56881e0 or 1234e56 is a float
		// to YAML, and reaches the model as its value, not the text the user typed.
		return `must be 7 to 40 lowercase hex digits (YAML reads an unquoted commit of digits and one "e" as a number: quote it, commit: "56881e0")`
	default:
		return "must be 7 to 40 lowercase hex digits"
	}
}

func driverPathProblem(p string) string {
	switch {
	case p == "":
		return "is required"
	case p == ".":
		return ""
	case strings.HasPrefix(p, "/"):
		return "must be relative to the repository root"
	case path.Clean(p) != p:
		return "must be a clean path (no '..', '.', '//' or trailing '/')"
	}
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "..":
			return "must not leave the repository ('..')"
		case c == ".git":
			return "must not name git's own folder"
		case strings.HasPrefix(c, "-"):
			return "no component may start with '-'"
		case !componentPattern.MatchString(c):
			return "components may only contain letters, digits, '_', '.' and '-'"
		}
	}
	return ""
}

func hasControlOrSpace(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return true
		}
	}
	return false
}
