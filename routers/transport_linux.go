package routers

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/internal/netnsx"
)

// ListenIn returns a bgp.Config.Listen that opens TCP port 179 on addr
// (invalid: all addresses) inside the named network namespace.
func ListenIn(ns string, addr netip.Addr) func() (net.Listener, error) {
	return func() (net.Listener, error) {
		var ln net.Listener
		host := ""
		if addr.IsValid() {
			host = addr.String()
		}
		err := netnsx.Do(ns, func() (err error) {
			ln, err = net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(bgp.Port)))
			return err
		})
		return ln, err
	}
}

// DialIn returns a bgp.Config.Dial that connects from inside the named
// network namespace. The socket is created there; the connection itself
// may block on any goroutine.
func DialIn(ns string) func(ctx context.Context, local netip.Addr, remote netip.AddrPort) (net.Conn, error) {
	return func(ctx context.Context, local netip.Addr, remote netip.AddrPort) (net.Conn, error) {
		var c net.Conn
		d := net.Dialer{}
		if local.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
		}
		// The connect runs on the namespace's thread: sockets take the
		// namespace of the thread that creates them.
		err := netnsx.Do(ns, func() (err error) {
			c, err = d.DialContext(ctx, "tcp", remote.String())
			return err
		})
		return c, err
	}
}
