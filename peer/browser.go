package peer

import (
	"mime"
	"net"
	"net/http"
	"strings"
)

// browserRequest says why r could have come from a web browser, "" when it could not. A node
// (Client) sends neither Origin nor Sec-Fetch-* headers, and a POST of it always carries
// application/json, which a page cannot send to another origin without a CORS preflight (which
// no route here answers). A page's request, cross-site or after DNS rebinding, fails one of these:
// a POST always carries Origin, current browsers add Sec-Fetch-* to loopback and https targets,
// and a "simple" request's body is text/plain, a form or multipart.
//
// open is a cluster port that takes every connection (Proof.Open, --auth none): there a page that
// rebound a DNS name to the port would be same-origin, so the Host must not be a DNS name either
// (an IP address or localhost, as nodes dial it).
func browserRequest(r *http.Request, open bool) string {
	if _, ok := r.Header["Origin"]; ok {
		return "it carries an Origin header (" + r.Header.Get("Origin") + ")"
	}
	for name := range r.Header {
		if strings.HasPrefix(name, "Sec-Fetch-") {
			return "it carries a " + name + " header"
		}
	}
	if r.Method == http.MethodPost {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			return "a POST must be application/json, not " + quoteOrNone(r.Header.Get("Content-Type"))
		}
	}
	if open && !literalHost(r.Host) {
		return "on a cluster port without TLS or secret the Host must be an IP address or localhost, not " + quoteOrNone(r.Host)
	}
	return ""
}

// literalHost reports whether host (host[:port], as a Host header) names no DNS name that could be
// rebound: an IP address, or localhost, which browsers resolve to loopback themselves.
func literalHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return net.ParseIP(host) != nil || strings.EqualFold(host, "localhost")
}

func quoteOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return `"` + s + `"`
}
