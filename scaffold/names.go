package scaffold

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// A Transport is the kind of driver to write: how it reaches its device, or logic.
type Transport string

// The transports, in the order they are listed to people.
const (
	TCP       Transport = "tcp"
	UDP       Transport = "udp"
	HTTP      Transport = "http"
	SSH       Transport = "ssh"
	WebSocket Transport = "websocket"
	Logic     Transport = "logic"
)

// Transports are the transports New writes.
var Transports = []Transport{TCP, UDP, HTTP, SSH, WebSocket, Logic}

// ParseTransport reads a transport as people type it: any case, with spaces around, "ws" for
// websocket. Anything else is an error that lists the valid ones.
func ParseTransport(s string) (Transport, error) {
	t := Transport(strings.ToLower(strings.TrimSpace(s)))
	if t == "ws" {
		t = WebSocket
	}
	if !slices.Contains(Transports, t) {
		names := make([]string, len(Transports))
		for i, v := range Transports {
			names[i] = string(v)
		}
		return "", invalid("unknown transport %q: want one of %s", s, strings.Join(names, ", "))
	}
	return t, nil
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// reserved names would collide with what the templates declare (main.go, func New, type
// Settings).
var reserved = []string{"main", "new", "settings"}

// CheckName accepts a driver name that works as a folder, a Go package and, capitalised, a Go
// type: lower-case letters and digits, starting with a letter. Underscores and hyphens are
// refused rather than mangled (a file projector_linux.go would build on Linux only), and the
// error says what to type instead.
func CheckName(name string) error {
	switch {
	case name == "":
		return invalid("a driver name is needed: engine new driver NAME (e.g. projector)")
	case len(name) > 40:
		return invalid("driver name %q is longer than 40 characters", name)
	case slices.Contains(reserved, name):
		return invalid("driver name %q would collide with the driver's own declarations; choose another", name)
	case nameRE.MatchString(name):
		return nil
	}
	suggest := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.ToLower(name))
	suggest = strings.TrimLeft(suggest, "0123456789")
	why := fmt.Sprintf("driver name %q: use lower-case letters and digits, starting with a letter (it names the driver's folder and Go package)", name)
	if suggest != "" && CheckName(suggest) == nil {
		return invalid("%s: try %q", why, suggest)
	}
	return invalid("%s", why)
}

// typeName is the driver's Go type and module name: the name capitalised (projector → Projector).
func typeName(name string) string { return strings.ToUpper(name[:1]) + name[1:] }
