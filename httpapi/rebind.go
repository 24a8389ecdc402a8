package httpapi

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/placeos-go/engine/errkind"
)

// checkHost is the DNS-rebinding guard of a node without authentication (docs/security.md). Under
// --auth none reaching the loopback listener is the credential, and a page whose own name was
// re-pointed at 127.0.0.1 reaches it with its own name in Host — and as the same origin, so the
// Origin rule passes and the page reads the answers. A browser always sends the name it resolved
// in Host, so a Host that is not a loopback name is such a page (or a client that should use
// localhost). Under --auth keys nothing the browser adds by itself authenticates a rebound page,
// and Host may be any name a proxy or DNS gives the node.
func (s *Server) checkHost(r *http.Request) error {
	if !s.cfg.Auth.Disabled() || loopbackHost(r.Host) {
		return nil
	}
	if s.hostLog.ok() {
		s.log.Warn("request refused: under --auth none only a loopback Host (localhost, 127.0.0.0/8, [::1]) is served, against DNS rebinding (this line at most every 10 s)",
			"host", r.Host, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
	}
	return errkind.Wrap(ErrAccessDenied, nil,
		"request refused: Host %q is not a loopback name; a node running without authentication (--auth none) answers only requests addressed to localhost, 127.0.0.0/8 or [::1], against DNS rebinding",
		truncate(r.Host, 100))
}

// loopbackHost reports whether host[:port] names this machine's loopback without DNS: localhost,
// which browsers resolve to loopback themselves (RFC 6761), or a loopback IP literal. A name that
// DNS resolves, even to 127.0.0.1 today, may point elsewhere tomorrow and is not one.
func loopbackHost(hostport string) bool {
	// By hand: net.SplitHostPort allocates an error for a Host without a port, on every request.
	host := hostport
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return false
		}
		host = host[1:end]
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
