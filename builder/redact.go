package builder

import (
	"cmp"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/placeos-go/engine/model"
)

// urlInText is a URL as a library's error quotes it: a scheme, "://", and everything up to
// whitespace, a quote or an angle bracket.
var urlInText = regexp.MustCompile("(?i)[a-z][a-z0-9+.-]*://[^\\s\"'`<>]+")

// minSecretLen is the shortest credential removed from free text. A shorter part of a URI (a
// query value "1", a user "me") would otherwise cut into the words of the message; it still goes
// from every URL in the text, which is where the libraries put it.
const minSecretLen = 4

// redactError is the text of a failed clone or fetch of uri, safe for a status that every role
// reads and for the log. go-git and net/http do not quote the URI as given: they print the URL
// they normalised (scheme lower-cased, default port dropped, needless %-escapes decoded) and hide
// only a password, so replacing the URI as given misses a token in the user name, a ;parameter,
// the query or the fragment. Instead every URL in the text goes through model.RedactURI, and then
// every credential of uri (model.URISecrets) goes wherever it still stands, in each form a
// library may print it: as given, %-decoded and %-encoded.
func redactError(uri string, err error) string {
	text := urlInText.ReplaceAllStringFunc(err.Error(), model.RedactURI)
	for _, s := range secretForms(uri) {
		text = strings.ReplaceAll(text, s, "xxxxx")
	}
	return text
}

// secretForms lists the credentials of uri in every spelling the URL and HTTP libraries use,
// longest first so that no shorter one breaks up a longer before it is replaced.
func secretForms(uri string) []string {
	seen := map[string]bool{}
	var forms []string
	add := func(s string) {
		if len(s) >= minSecretLen && !seen[s] {
			seen[s] = true
			forms = append(forms, s)
		}
	}
	for _, s := range model.URISecrets(uri) {
		plain := []string{s}
		if d, err := url.PathUnescape(s); err == nil {
			plain = append(plain, d)
		}
		if d, err := url.QueryUnescape(s); err == nil {
			plain = append(plain, d)
		}
		for _, p := range plain {
			add(p)
			add(url.PathEscape(p))
			add(url.QueryEscape(p))
			add(url.User(p).String())
			add((&url.URL{Path: p}).EscapedPath())
			add((&url.URL{Fragment: p}).EscapedFragment())
		}
	}
	slices.SortFunc(forms, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return forms
}

// redactedError is a sync error whose text has been through redactError. It unwraps to the
// original, so errors.Is and errors.As still see the cause (a timeout, say), while its text,
// which is all that is printed, holds no credential.
type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }
