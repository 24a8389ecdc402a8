package model

import (
	"strings"
	"testing"
)

// RedactURI on the forms people type into a repository's uri: every credential goes, whichever
// place of the URI holds it, and what names the repository stays.
func TestRedactURI(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		// User information.
		{"https://user:PASS@git.example.com/a.git", "https://xxxxx@git.example.com/a.git"},
		{"https://TOKEN@github.com/a/b.git", "https://xxxxx@github.com/a/b.git"},
		{"https://oauth2:glpat-SECRET@gitlab.com/g/p.git", "https://xxxxx@gitlab.com/g/p.git"},
		{"https://x-token-auth:SECRET@bitbucket.org/t/r.git", "https://xxxxx@bitbucket.org/t/r.git"},
		{"HTTPS://SECRET@github.com/a/b.git", "https://xxxxx@github.com/a/b.git"},
		{"http://u:p@h:8080/x", "http://xxxxx@h:8080/x"},
		{"ssh://git:secret@host/x.git", "ssh://git:xxxxx@host/x.git"},
		{"ssh://git@host:2222/x.git", "ssh://git@host:2222/x.git"},
		{"https://us er:p%zz@host/x", "https://xxxxx@host/x"},
		{"https://user:pa;ss@host/x.git", "https://xxxxx@host/x.git"},
		{"https://user:pa?ss@host/x.git", "https://xxxxx@host/x.git"},
		{"ext::https://u:p@host/x", "ext::https://xxxxx@host/x"},
		// scp-like.
		{"git@github.com:acme/x.git", "git@github.com:acme/x.git"},
		{"github.com:acme/x.git", "github.com:acme/x.git"},
		{"git:secret@github.com:acme/x.git", "git:xxxxx@github.com:acme/x.git"},
		{"me:p@ss:w0rd@host:x.git", "me:xxxxx@host:x.git"},
		{"git@host:x.git;password=SECRET", "git@host:x.git;password=xxxxx"},
		{"git@host:x.git#tok=SECRET", "git@host:x.git#tok=xxxxx"},
		// Query.
		{"https://host/x.git?access_token=SECRET", "https://host/x.git?access_token=xxxxx"},
		{"https://u:p@host/x?private_token=SECRET&b=2", "https://xxxxx@host/x?private_token=xxxxx&b=xxxxx"},
		{"https://host/x.git?SECRET", "https://host/x.git?xxxxx"},
		{"https://host/x.git?email=a@b.example&token=SECRET", "https://host/x.git?email=xxxxx&token=xxxxx"},
		// Fragment.
		{"https://host/r.git#tok=SECRET", "https://host/r.git#tok=xxxxx"},
		{"https://host/r.git#SECRET", "https://host/r.git#xxxxx"},
		{"https://host/r.git?ref=main#access_token=SECRET&x=SECRET", "https://host/r.git?ref=xxxxx#access_token=xxxxx&x=xxxxx"},
		{"ssh://git@host/r.git#tok=SECRET", "ssh://git@host/r.git#tok=xxxxx"},
		// ;parameters of the path.
		{"https://host/r.git;password=SECRET", "https://host/r.git;password=xxxxx"},
		{"https://host/r.git;auth=basic;password=SECRET", "https://host/r.git;auth=xxxxx;password=xxxxx"},
		{"https://host/g;token=SECRET/r.git", "https://host/g;token=xxxxx/r.git"},
		{"https://u:p@host/r.git;password=SECRET#tok=SECRET", "https://xxxxx@host/r.git;password=xxxxx#tok=xxxxx"},
		{"ssh://git:pw@host/r.git;password=SECRET", "ssh://git:xxxxx@host/r.git;password=xxxxx"},
		{"ext::https://u:p@host/r.git;password=SECRET#t=SECRET", "ext::https://xxxxx@host/r.git;password=xxxxx#t=xxxxx"},
		// Nothing to hide: as given.
		{"https://git.example.com/a.git", "https://git.example.com/a.git"},
		{"https://git.example.com/a%20b.git", "https://git.example.com/a%20b.git"},
		{"file:///srv/repos/a", "file:///srv/repos/a"},
		{"/srv/repos/a", "/srv/repos/a"},
		{"/srv/repos/a@2", "/srv/repos/a@2"},
		{"", ""},
	} {
		got := RedactURI(c.in)
		if got != c.want {
			t.Errorf("RedactURI(%q) = %q, want %q", c.in, got, c.want)
		}
		for _, secret := range []string{"SECRET", "PASS", "secret", "pa;ss", "pa?ss", "p@ss"} {
			if strings.Contains(c.in, secret) && strings.Contains(got, secret) {
				t.Errorf("RedactURI(%q) = %q shows %q", c.in, got, secret)
			}
		}
	}
}

// URISecrets lists exactly what RedactURI hides, so a text that quotes the URI in another form
// can be cleaned of it; what RedactURI keeps is not listed.
func TestURISecrets(t *testing.T) {
	t.Parallel()
	for uri, want := range map[string][]string{
		"https://TOKEN@github.com/a/b.git":         {"TOKEN"},
		"https://oauth2:pw%21x@gitlab.com/g/p.git": {"oauth2", "pw!x", "oauth2:pw%21x"},
		"ssh://git:pw@host/x.git":                  {"pw"},
		"ssh://git@host/x.git":                     nil,
		"git:pw@host:x.git;t=P":                    {"pw", "P"},
		"http://h/r.git;a=P1;b?q=Q1&Q2#F1":         {"Q1", "Q2", "F1", "P1", "b"},
		"http://h/r%2Egit;a=P%201":                 {"P%201", "P 1"},
		"ext::https://u:p@host/x":                  {"u:p", "u", "p"},
		"https://git.example.com/a.git":            nil,
		"/srv/repos/a;k=V":                         {"V"},
	} {
		got := URISecrets(uri)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("URISecrets(%q) = %q, want %q", uri, got, want)
		}
	}
}
