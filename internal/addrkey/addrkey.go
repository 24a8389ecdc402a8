package addrkey

import "net"

// Of is the IP address of a, or its /64 for IPv6 (one host usually holds a whole /64).
func Of(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		return ip4.String()
	}
	return ta.IP.Mask(net.CIDRMask(64, 128)).String()
}
