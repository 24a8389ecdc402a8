package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/model"
)

// pingTimeout bounds a module ping: name lookup and connect.
const pingTimeout = 3 * time.Second

// pingResult is PlaceOS's ping answer.
type pingResult struct {
	Host      string  `json:"host"`
	Pingable  bool    `json:"pingable"`
	Warning   *string `json:"warning"`
	Exception *string `json:"exception"`
}

// POST /modules/{id}/ping: support or admin, as PlaceOS. PlaceOS sends ICMP echoes to the
// device; the engine runs without raw-socket privileges, so it opens a TCP connection to the
// device's address (ip and port, else its uri) from this node, within pingTimeout. A device that
// accepts, or refuses the port (its host answered), is pingable; one that does not answer, or
// whose name does not resolve, is not. Logic modules have no device: 400.
func (s *Server) handleModulePing(w http.ResponseWriter, r *http.Request) {
	mod, ok := s.clearedModule(w, r, auth.ClearanceSupport)
	if !ok {
		return
	}
	m, _ := s.cfg.Models.Model()
	host, port, err := deviceAddress(mod, m.Drivers[mod.DriverID])
	if err != nil {
		s.writeError(w, r, err, moduleTarget(r))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pingTimeout)
	defer cancel()
	writeJSON(w, http.StatusOK, tcpPing(ctx, host, port, mod.UDP))
}

// deviceAddress is where a module's device is: ip and port (the driver's default port when the
// module has none), else the host and port of its uri (the scheme's port when it names none),
// else of the driver's default uri.
func deviceAddress(mod *model.Module, d *model.Driver) (host string, port int, err error) {
	if d != nil && d.Role == model.RoleLogic {
		return "", 0, errkind.Wrap(httpwire.ErrBadParameter, nil, "ping not supported for module role: logic (module %s has no device)", mod.ID)
	}
	defPort, defURI := 0, ""
	if d != nil {
		defPort, defURI = d.DefaultPort, d.DefaultURI
	}
	if mod.IP != "" {
		port = mod.Port
		if port == 0 {
			port = defPort
		}
		if port == 0 && d != nil && d.Role == model.RoleSSH {
			port = 22
		}
		if port == 0 {
			return "", 0, errkind.Wrap(httpwire.ErrBadParameter, nil, "module %s has an ip but no port (and its driver no default_port): nothing to connect to", mod.ID)
		}
		return mod.IP, port, nil
	}
	raw := mod.URI
	if raw == "" {
		raw = defURI
	}
	u, perr := url.Parse(raw)
	if raw == "" || perr != nil || u.Hostname() == "" {
		return "", 0, errkind.Wrap(httpwire.ErrBadParameter, nil, "module %s has no ip or uri with a host to ping", mod.ID)
	}
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	} else {
		port = map[string]int{"http": 80, "ws": 80, "https": 443, "wss": 443, "ssh": 22, "telnet": 23}[u.Scheme]
	}
	if port == 0 {
		return "", 0, errkind.Wrap(httpwire.ErrBadParameter, nil, "module %s: uri %q names no port, and %q has no usual one", mod.ID, model.RedactURI(raw), u.Scheme)
	}
	return u.Hostname(), port, nil
}

// tcpPing resolves host and connects to host:port once.
func tcpPing(ctx context.Context, host string, port int, udp bool) pingResult {
	str := func(s string) *string { return &s }
	res := pingResult{Host: host}
	if udp {
		res.Warning = str("a UDP device is checked with a TCP connection to its port, which it may not accept: its host answering a refusal still counts")
	}
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(addrs) == 0 {
		res.Exception = str("could not resolve " + host + ": " + errString(err))
		return res
	}
	res.Host = addrs[0]
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addrs[0], strconv.Itoa(port)))
	switch {
	case err == nil:
		_ = conn.Close()
		res.Pingable = true
	case errors.Is(err, syscall.ECONNREFUSED):
		res.Pingable = true
		res.Warning = str("port " + strconv.Itoa(port) + " refused the connection: the host answers, but nothing listens on the port")
	default:
		res.Exception = str("TCP connect to port " + strconv.Itoa(port) + ": " + err.Error())
	}
	return res
}

func errString(err error) string {
	if err == nil {
		return "no address"
	}
	return err.Error()
}
