package model

import (
	"net/url"
	"slices"
	"strings"
)

// redactedPart replaces a credential in a repository URI.
const redactedPart = "xxxxx"

// RedactURI hides credentials embedded in a repository URI, for logs, statuses and readers below
// admin. In an http(s) URL the whole user information goes (a token is often the user name:
// https://TOKEN@host/...); in other URLs the password does (ssh://git@host keeps its user); so
// does a password in git's scp-like form (user:pass@host:path). After the host, every value a
// token may be put in goes too, whatever its name: the query's (?access_token=...), the path's
// ;parameters (r.git;password=...) and the fragment's (#tok=...); a query item, parameter or
// fragment without '=' goes whole, since it may be the token itself.
func RedactURI(uri string) string {
	var h hider
	return h.uri(uri)
}

// URISecrets lists the parts of uri that RedactURI hides, as they stand in uri and, where the
// URL parser decodes them, decoded too. A text that may quote uri in another form than the one
// given (a library's error prints the URL it normalised) is cleaned by removing these wherever
// they appear, in every form it may print them.
func URISecrets(uri string) []string {
	var h hider
	h.uri(uri)
	return h.hidden
}

// hider does RedactURI's work and records every part it hides, so that RedactURI and URISecrets
// follow one set of rules.
type hider struct{ hidden []string }

func (h *hider) hide(parts ...string) {
	for _, p := range parts {
		if p != "" && !slices.Contains(h.hidden, p) {
			h.hidden = append(h.hidden, p)
		}
	}
}

func (h *hider) uri(uri string) string {
	i := strings.Index(uri, "://")
	if i < 0 {
		return h.scp(uri)
	}
	u, err := url.Parse(uri)
	if err != nil || (u.User == nil && u.Opaque != "") {
		// Unparsable, or a URL behind a transport helper (ext::https://u:p@host/..., which net/url
		// reads as an opaque "ext:" URL): hide anything between the scheme and the last '@'.
		host := i + 3
		if at := strings.LastIndex(uri, "@"); at > i {
			user := uri[host:at]
			name, pass, _ := strings.Cut(user, ":")
			h.hide(user, name, pass)
			uri = uri[:host] + redactedPart + uri[at:]
			host += len(redactedPart) + 1
		}
		if p := strings.IndexAny(uri[host:], "/?#"); p >= 0 {
			uri = uri[:host+p] + h.params(uri[host+p:])
		}
		return uri
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" && !strings.Contains(u.Path, ";") {
		return uri // nothing to hide: as given
	}
	if u.RawQuery != "" {
		u.RawQuery = h.items(u.RawQuery, "&")
	}
	if u.Fragment != "" {
		h.items(u.EscapedFragment(), "&")
		u.Fragment, u.RawFragment = h.items(u.Fragment, "&"), ""
	}
	if strings.Contains(u.Path, ";") {
		h.params(u.EscapedPath())
		u.Path, u.RawPath = h.params(u.Path), ""
	}
	pass, hasPass := u.User.Password()
	switch {
	case u.User == nil:
		return u.String()
	case u.Scheme == "http" || u.Scheme == "https":
		h.hide(u.User.Username(), pass, u.User.String())
		u.User = url.User(redactedPart)
		return u.String()
	}
	if hasPass {
		h.hide(pass)
	}
	return u.Redacted()
}

// scp is RedactURI for git's scp-like form, [user[:password]@]host:path, and local paths.
func (h *hider) scp(uri string) string {
	at := strings.LastIndex(uri, "@")
	colon := strings.Index(uri[at+1:], ":")
	if colon < 0 || strings.HasPrefix(uri, "/") {
		return h.params(uri) // a local path
	}
	path := at + 1 + colon + 1
	head := uri[:path]
	if c := strings.Index(uri[:max(at, 0)], ":"); c >= 0 {
		h.hide(uri[c+1 : at])
		head = uri[:c+1] + redactedPart + uri[at:path]
	}
	return head + h.params(uri[path:])
}

// params hides the values of a path's ;parameters, of its query and of its fragment.
func (h *hider) params(path string) string {
	path, frag, hasFrag := strings.Cut(path, "#")
	path, query, hasQuery := strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if name, params, ok := strings.Cut(seg, ";"); ok {
			segs[i] = name + ";" + h.items(params, ";")
		}
	}
	out := strings.Join(segs, "/")
	if hasQuery {
		out += "?" + h.items(query, "&")
	}
	if hasFrag {
		out += "#" + h.items(frag, "&")
	}
	return out
}

// items hides the value of each sep-separated name=value item, and an item without '=' whole.
func (h *hider) items(s, sep string) string {
	items := strings.Split(s, sep)
	for i, it := range items {
		if name, value, ok := strings.Cut(it, "="); ok {
			h.hide(value)
			items[i] = name + "=" + redactedPart
		} else if it != "" {
			h.hide(it)
			items[i] = redactedPart
		}
	}
	return strings.Join(items, sep)
}
