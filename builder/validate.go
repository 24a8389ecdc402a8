package builder

import (
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/placeos-go/engine/model"
)

// idPattern matches model ids; a repository id names a folder, so it is checked again here.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// componentPattern limits driver path components to characters that are safe in a file name and
// keep the binary name's slug unambiguous ('+' stands for '/').
var componentPattern = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_.-]*$`)

var hexPattern = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

var allowedSchemes = map[string]bool{"https": true, "http": true, "ssh": true, "git": true, "file": true}

// scpLike is git's user@host:path form for SSH (no scheme, a colon before any slash).
var scpLike = regexp.MustCompile(`^(?:([A-Za-z0-9._~-]+)@)?([A-Za-z0-9.-]+):(.*)$`)

func fieldErr(field, value, reason string) error {
	return &FieldError{Field: field, Value: value, Reason: reason}
}

// ValidateRepository checks the fields of a repository that reach the file system or git.
func ValidateRepository(r model.Repository) error {
	if !idPattern.MatchString(r.ID) {
		return fieldErr("repository.id", r.ID, "must match "+idPattern.String())
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
		if err := validateCommitField("repository.commit", r.Commit); err != nil {
			return err
		}
	}
	return nil
}

// ValidateURI accepts https, http, ssh, git and file URLs, git's scp-like SSH form
// (git@host:org/repo.git) and absolute local paths. Nothing may start with '-', which git
// would read as an option, and no part may carry whitespace or control characters.
func ValidateURI(uri string) error {
	const field = "repository.uri"
	switch {
	case uri == "":
		return fieldErr(field, uri, "is required")
	case strings.HasPrefix(uri, "-"):
		return fieldErr(field, uri, "must not start with '-'")
	case hasControlOrSpace(uri):
		return fieldErr(field, uri, "must not contain whitespace or control characters")
	case strings.Contains(uri, "::"):
		// git's transport helpers (ext::, fd::) run arbitrary commands.
		return fieldErr(field, uri, "transport helpers (::) are not allowed")
	}
	if strings.HasPrefix(uri, "/") {
		if path.Clean(uri) != uri {
			return fieldErr(field, uri, "local path must be clean (no '..', '//' or '.')")
		}
		return nil
	}
	if !strings.Contains(uri, "://") {
		if m := scpLike.FindStringSubmatch(uri); m != nil && !strings.Contains(m[1]+m[2], "/") {
			if strings.HasPrefix(m[2], "-") || strings.HasPrefix(m[3], "-") {
				return fieldErr(field, uri, "host and path must not start with '-'")
			}
			return nil
		}
		return fieldErr(field, uri, "must be an absolute path or a URL with scheme https, http, ssh, git or file")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return fieldErr(field, model.RedactURI(uri), "does not parse: "+err.Error())
	}
	if !allowedSchemes[u.Scheme] {
		return fieldErr(field, model.RedactURI(uri), "scheme must be https, http, ssh, git or file")
	}
	if u.Scheme == "file" {
		if u.Host != "" && u.Host != "localhost" {
			return fieldErr(field, uri, "file URL must not name a host")
		}
		if !strings.HasPrefix(u.Path, "/") || path.Clean(u.Path) != u.Path {
			return fieldErr(field, uri, "file URL must name a clean absolute path")
		}
		return nil
	}
	if u.Hostname() == "" {
		return fieldErr(field, model.RedactURI(uri), "must name a host")
	}
	if strings.HasPrefix(u.Hostname(), "-") || strings.HasPrefix(u.User.Username(), "-") {
		return fieldErr(field, model.RedactURI(uri), "host and user must not start with '-'")
	}
	return nil
}

// ValidateBranch applies git check-ref-format's rules to a branch name, and refuses a leading
// '-' so the name can never be read as an option.
func ValidateBranch(b string) error {
	const field = "repository.branch"
	bad := func(reason string) error { return fieldErr(field, b, reason) }
	switch {
	case b == "":
		return bad("is empty")
	case b == "@":
		return bad("must not be '@'")
	case strings.HasPrefix(b, "-"):
		return bad("must not start with '-'")
	case strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/"):
		return bad("must not start or end with '/'")
	case strings.HasSuffix(b, "."):
		return bad("must not end with '.'")
	case strings.Contains(b, ".."), strings.Contains(b, "//"), strings.Contains(b, "@{"):
		return bad("must not contain '..', '//' or '@{'")
	case strings.ContainsAny(b, " ~^:?*[\\"):
		return bad("must not contain space, ~ ^ : ? * [ or \\")
	case hasControlOrSpace(b):
		return bad("must not contain control characters")
	}
	for _, c := range strings.Split(b, "/") {
		if strings.HasPrefix(c, ".") {
			return bad("no component may start with '.'")
		}
		if strings.HasSuffix(c, ".lock") {
			return bad("no component may end with '.lock'")
		}
	}
	return nil
}

// ValidateDriverPath checks a driver's folder inside its repository: relative, clean, no '..',
// no component starting with '-', only [A-Za-z0-9_.-] in a component. "." is the repository root.
func ValidateDriverPath(p string) error {
	const field = "driver.path"
	bad := func(reason string) error { return fieldErr(field, p, reason) }
	switch {
	case p == "":
		return bad("is required")
	case p == ".":
		return nil
	case strings.HasPrefix(p, "/"):
		return bad("must be relative to the repository root")
	case path.Clean(p) != p:
		return bad("must be a clean path (no '..', '.', '//' or trailing '/')")
	}
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "..":
			return bad("must not leave the repository ('..')")
		case c == ".git":
			return bad("must not name git's own folder")
		case strings.HasPrefix(c, "-"):
			return bad("no component may start with '-'")
		case !componentPattern.MatchString(c):
			return bad("components may only contain letters, digits, '_', '.' and '-'")
		}
	}
	return nil
}

// ValidateCommit checks a commit id: 7 to 40 lowercase hex digits.
func ValidateCommit(c string) error { return validateCommitField("driver.commit", c) }

func validateCommitField(field, c string) error {
	if !hexPattern.MatchString(c) {
		return fieldErr(field, c, "must be 7 to 40 lowercase hex digits")
	}
	return nil
}

// ValidateDriver checks the repository-related fields of a driver (path, optional commit).
func ValidateDriver(d model.Driver) error {
	if err := ValidateDriverPath(d.Path); err != nil {
		return err
	}
	if d.Commit != "" {
		return ValidateCommit(d.Commit)
	}
	return nil
}

func hasControlOrSpace(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return true
		}
	}
	return false
}
