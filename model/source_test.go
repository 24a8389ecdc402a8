package model

import (
	"errors"
	"strings"
	"testing"

	"github.com/placeos-go/engine/errkind"
)

// The rules of source.go, which the builder applies before git or go runs and Validate at every
// write.

func TestValidateURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://github.com/acme/drivers.git", true},
		{"http://git.local/acme/drivers", true},
		{"ssh://git@github.com/acme/drivers.git", true},
		{"git://git.local/drivers", true},
		{"file:///srv/git/drivers", true},
		{"git@github.com:acme/drivers.git", true},
		{"/srv/git/drivers", true},
		{"", false},
		{"--upload-pack=touch /tmp/pwned", false},
		{"-c", false},
		{"ext::sh -c touch% /tmp/pwned", false},
		{"ftp://host/repo", false},
		{"relative/path", false},
		{"../escape", false},
		{"/srv/../etc", false},
		{"file:///srv/../etc", false},
		{"file://otherhost/srv/repo", false},
		{"https://-oProxyCommand=x/repo", false},
		{"ssh://-oProxyCommand=touch/repo", false},
		{"-oProxyCommand=x:repo", false},
		{"host:-repo", false},
		{"https://host/repo\nx", false},
		{"https://host/re po", false},
	}
	for _, tt := range tests {
		err := ValidateURI(tt.uri)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateURI(%q) = %v, want ok=%v", tt.uri, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, ErrInvalid) || !errors.Is(err, errkind.BadRequest) ||
			!strings.Contains(err.Error(), "repository.uri")) {
			t.Errorf("ValidateURI(%q) error %v should be a BadRequest naming the field", tt.uri, err)
		}
	}
}

func TestValidateURIRedactsPassword(t *testing.T) {
	t.Parallel()
	err := ValidateURI("ftp://user:hunter2@host/repo")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("password leaked or not refused: %v", err)
	}
}

func TestValidateBranch(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"main", "release/1.2", "feature-x", "v1.0.0", "a_b"} {
		if err := ValidateBranch(b); err != nil {
			t.Errorf("ValidateBranch(%q) = %v", b, err)
		}
	}
	for _, b := range []string{"", "-b", "--orphan", "@", "a..b", "a//b", "/a", "a/", "a.", "a.lock",
		"a/.hidden", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "a@{1}", "a\x01"} {
		err := ValidateBranch(b)
		if err == nil || !strings.Contains(err.Error(), "repository.branch") {
			t.Errorf("ValidateBranch(%q) = %v, want an error naming repository.branch", b, err)
		}
	}
}

func TestValidateDriverPath(t *testing.T) {
	t.Parallel()
	for _, p := range []string{".", "drivers/display", "display", "a/b_c/d-e/v1.2"} {
		if err := ValidateDriverPath(p); err != nil {
			t.Errorf("ValidateDriverPath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "/etc", "../x", "a/../../x", "a/..", "./a", "a/", "a//b",
		"-toolexec=touch", "a/-o", ".git", "a/.git/hooks", "a+b", "a b", "a\\b", "a;b", "$(x)"} {
		err := ValidateDriverPath(p)
		if err == nil || !strings.Contains(err.Error(), "driver.path") {
			t.Errorf("ValidateDriverPath(%q) = %v, want an error naming driver.path", p, err)
		}
	}
}

func TestValidateCommit(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"abc1234", "0123456789abcdef0123456789abcdef01234567"} {
		if err := ValidateCommit(c); err != nil {
			t.Errorf("ValidateCommit(%q) = %v", c, err)
		}
	}
	for _, c := range []string{"", "abc123", "ABC1234", "--all", "HEAD", "abc1234x",
		"0123456789abcdef0123456789abcdef012345678"} {
		if err := ValidateCommit(c); err == nil || !strings.Contains(err.Error(), "driver.commit") {
			t.Errorf("ValidateCommit(%q) = %v", c, err)
		}
	}
}

func TestValidateRepositoryID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"", "../x", "a/b", ".hidden", "-x"} {
		err := ValidateRepository(Repository{ID: id, URI: "/srv/repo"})
		if err == nil || !strings.Contains(err.Error(), "repository.id") {
			t.Errorf("id %q: %v", id, err)
		}
	}
}

// TestURIErrorsNeverCarryThePassword: a refused URI with credentials is named without its
// password, whichever rule refused it (the message reaches logs and API answers).
func TestURIErrorsNeverCarryThePassword(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{
		"ftp://user:hunter2@host/repo",
		"https://user:hunter2@host/re po",
		"https://user:hunter2@host/%zz",
		"https://user:hunter2@-host/repo",
		"ext::https://user:hunter2@host/repo",
	} {
		err := ValidateURI(uri)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ValidateURI(%q) = %v: refused without leaking the password?", uri, err)
		}
		verr := New().Upsert(&File{Repositories: []*Repository{{ID: "r", URI: uri}}}).Validate()
		if verr == nil || strings.Contains(verr.Error(), "hunter2") {
			t.Errorf("Validate with uri %q = %v: refused without leaking the password?", uri, verr)
		}
	}
}

// TestValidateAppliesTheSourceRules: a model write is refused by the rules the builder applies
// before git or go runs (so a bad URI or driver path is a 400 at the API, not a failed build
// later), naming the entity and the field, every problem at once.
func TestValidateAppliesTheSourceRules(t *testing.T) {
	t.Parallel()
	const good = `
repositories: [{id: acme, uri: "https://git.example.com/acme/drivers.git", branch: release/1.2, commit: abc1234}]
drivers: [{id: d1, module_name: D, role: device, repository_id: acme, path: drivers/display, commit: 0123456789abcdef0123456789abcdef01234567}]
`
	f, err := ParseFile([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := New().Upsert(f).Validate(); err != nil {
		t.Fatalf("a good model refused: %v", err)
	}
	tests := []struct{ yaml, want string }{
		{`repositories: [{id: r, uri: "ext::ssh://host/repo"}]`, `repository "r": uri "ext::ssh://host/repo": transport helpers`},
		{`repositories: [{id: r, uri: "--upload-pack=touch /tmp/x"}]`, `repository "r": uri "--upload-pack=touch /tmp/x": must not start with '-'`},
		{`repositories: [{id: r, uri: "relative/path"}]`, `repository "r": uri "relative/path": must be an absolute path`},
		{`repositories: [{id: r}]`, `repository "r": uri: is required`},
		{`repositories: [{id: r, uri: /srv/git/x, branch: "--orphan"}]`, `repository "r": branch "--orphan": must not start with '-'`},
		{`repositories: [{id: r, uri: /srv/git/x, commit: HEAD}]`, `repository "r": commit "HEAD": must be 7 to 40`},
		{"repositories: [{id: r, uri: /srv/git/x}]\ndrivers: [{id: d, module_name: D, role: device, repository_id: r, path: ../x}]", `driver "d": path "../x": must not leave the repository`},
		{"repositories: [{id: r, uri: /srv/git/x}]\ndrivers: [{id: d, module_name: D, role: device, repository_id: r, path: a/../../x}]", `driver "d": path "a/../../x"`},
		{"repositories: [{id: r, uri: /srv/git/x}]\ndrivers: [{id: d, module_name: D, role: device, repository_id: r, path: /etc}]", `driver "d": path "/etc": must be relative`},
		{"repositories: [{id: r, uri: /srv/git/x}]\ndrivers: [{id: d, module_name: D, role: device, repository_id: r, path: drivers/-toolexec=x}]", `driver "d": path "drivers/-toolexec=x": no component may start with '-'`},
		{"repositories: [{id: r, uri: /srv/git/x}]\ndrivers: [{id: d, module_name: D, role: device, repository_id: r, path: x, commit: --all}]", `driver "d": commit "--all"`},
		// YAML reads an unquoted short hash of digits and one e as a number (56881e0 is 56881.0):
		// the error says to quote it.
		{"repositories: [{id: r, uri: /srv/git/x}]\ndrivers: [{id: d, module_name: D, role: device, repository_id: r, path: x, commit: 56881e0}]", `driver "d": commit "56881": must be 7 to 40 lowercase hex digits (YAML reads an unquoted commit of digits and one "e" as a number: quote it`},
	}
	for _, tt := range tests {
		f, err := ParseFile([]byte(tt.yaml))
		if err != nil {
			t.Fatalf("%s: %v", tt.yaml, err)
		}
		err = New().Upsert(f).Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n error %v\n want it to contain %q", tt.yaml, err, tt.want)
		}
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, errkind.BadRequest) {
			t.Errorf("%s: error %v is not an invalid model", tt.yaml, err)
		}
	}
	// Every problem at once, one per line.
	f, err = ParseFile([]byte("repositories: [{id: r, uri: 'ext::x', branch: '-b'}]\ndrivers: [{id: d, module_name: D, role: device, repository_id: r, path: ../x}]"))
	if err != nil {
		t.Fatal(err)
	}
	err = New().Upsert(f).Validate()
	for _, want := range []string{`uri "ext::x"`, `branch "-b"`, `path "../x"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not report %s", err, want)
		}
	}
}

// TestParseFileRefusesDuplicateIDs: an id given twice in one list of a model file is an error
// naming the kind and the id (applying the file would keep only the last entry), each duplicate
// once; the same id in two lists is two entities and fine.
func TestParseFileRefusesDuplicateIDs(t *testing.T) {
	t.Parallel()
	const file = `
zones: [{id: z1, name: A}, {id: z2, name: B}, {id: z1, name: C}, {id: z1, name: D}]
modules: [{id: m1, driver_id: d}, {id: m1, driver_id: e}]
systems: [{id: z2, name: same id as a zone, modules: []}]
`
	_, err := ParseFile([]byte(file))
	if err == nil {
		t.Fatal("duplicate ids accepted")
	}
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, errkind.BadRequest) {
		t.Fatalf("%v is not an invalid model", err)
	}
	msg := err.Error()
	for _, want := range []string{`zone "z1": id: given more than once`, `module "m1": id: given more than once`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Count(msg, `"z1"`) != 1 || strings.Contains(msg, `"z2"`) {
		t.Errorf("error %q: each duplicate once, and only duplicates", msg)
	}
	if _, err := ParseFile([]byte(`{"repositories": [{"id": "a", "uri": "/x"}, {"id": "a", "uri": "/y"}]}`)); err == nil || !strings.Contains(err.Error(), `repository "a"`) {
		t.Errorf("JSON file with a duplicate repository: %v", err)
	}
}
