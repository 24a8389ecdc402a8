package model

import (
	"net/url"
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
	i := strings.Index(uri, "://")
	if i < 0 {
		return redactSCP(uri)
	}
	u, err := url.Parse(uri)
	if err != nil || (u.User == nil && u.Opaque != "") {
		// Unparsable, or a URL behind a transport helper (ext::https://u:p@host/..., which net/url
		// reads as an opaque "ext:" URL): hide anything between the scheme and the last '@'.
		host := i + 3
		if at := strings.LastIndex(uri, "@"); at > i {
			uri = uri[:host] + redactedPart + uri[at:]
			host += len(redactedPart) + 1
		}
		if p := strings.IndexAny(uri[host:], "/?#"); p >= 0 {
			uri = uri[:host+p] + redactParams(uri[host+p:])
		}
		return uri
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" && !strings.Contains(u.Path, ";") {
		return uri // nothing to hide: as given
	}
	if u.RawQuery != "" {
		u.RawQuery = redactItems(u.RawQuery, "&")
	}
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = redactItems(u.Fragment, "&"), ""
	}
	if strings.Contains(u.Path, ";") {
		u.Path, u.RawPath = redactParams(u.Path), ""
	}
	switch {
	case u.User == nil:
		return u.String()
	case u.Scheme == "http" || u.Scheme == "https":
		u.User = url.User(redactedPart)
		return u.String()
	}
	return u.Redacted()
}

// redactSCP is RedactURI for git's scp-like form, [user[:password]@]host:path, and local paths.
func redactSCP(uri string) string {
	at := strings.LastIndex(uri, "@")
	colon := strings.Index(uri[at+1:], ":")
	if colon < 0 || strings.HasPrefix(uri, "/") {
		return redactParams(uri) // a local path
	}
	path := at + 1 + colon + 1
	head := uri[:path]
	if c := strings.Index(uri[:max(at, 0)], ":"); c >= 0 {
		head = uri[:c+1] + redactedPart + uri[at:path]
	}
	return head + redactParams(uri[path:])
}

// redactParams hides the values of a path's ;parameters, of its query and of its fragment.
func redactParams(path string) string {
	path, frag, hasFrag := strings.Cut(path, "#")
	path, query, hasQuery := strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if name, params, ok := strings.Cut(seg, ";"); ok {
			segs[i] = name + ";" + redactItems(params, ";")
		}
	}
	out := strings.Join(segs, "/")
	if hasQuery {
		out += "?" + redactItems(query, "&")
	}
	if hasFrag {
		out += "#" + redactItems(frag, "&")
	}
	return out
}

// redactItems hides the value of each sep-separated name=value item, and an item without '='
// whole.
func redactItems(s, sep string) string {
	items := strings.Split(s, sep)
	for i, it := range items {
		if name, _, ok := strings.Cut(it, "="); ok {
			items[i] = name + "=" + redactedPart
		} else if it != "" {
			items[i] = redactedPart
		}
	}
	return strings.Join(items, sep)
}
