package routers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"

	"github.com/secylab/secylab/bgp/bfd"
	"golang.org/x/sys/unix"
)

// ListenBFD opens the two sockets of a single-hop endpoint on local: the
// receiver on port 3784, reporting each packet's TTL, and the sender on a
// random port in 49152–65535 with TTL 255 (RFC 5881 §4, §5). Call it
// inside the router's namespace (netnsx.Do); the sockets stay there.
func ListenBFD(local netip.Addr) (rx, tx net.PacketConn, err error) {
	if !local.Is4() {
		return nil, nil, fmt.Errorf("routers: bfd: listen on %v: only IPv4 is supported", local)
	}
	rxc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, bfd.Port)))
	if err != nil {
		return nil, nil, fmt.Errorf("routers: bfd: listen %v:%d: %w", local, bfd.Port, err)
	}
	if err := setsockopt(rxc, unix.IPPROTO_IP, unix.IP_RECVTTL, 1); err != nil {
		rxc.Close()
		return nil, nil, fmt.Errorf("routers: bfd: IP_RECVTTL: %w", err)
	}
	for range 64 {
		port := bfd.MinSrcPort + rand.IntN(bfd.MaxSrcPort-bfd.MinSrcPort+1)
		txc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, uint16(port))))
		if errors.Is(err, unix.EADDRINUSE) {
			continue
		}
		if err != nil {
			rxc.Close()
			return nil, nil, fmt.Errorf("routers: bfd: source socket: %w", err)
		}
		if err := setsockopt(txc, unix.IPPROTO_IP, unix.IP_TTL, bfd.RequiredTTL); err != nil {
			rxc.Close()
			txc.Close()
			return nil, nil, fmt.Errorf("routers: bfd: IP_TTL: %w", err)
		}
		return &ttlConn{rxc}, txc, nil
	}
	rxc.Close()
	return nil, nil, errors.New("routers: bfd: no free source port in 49152-65535")
}

func setsockopt(c *net.UDPConn, level, opt, v int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
		return err
	}
	return serr
}

// ttlConn reads the IP_TTL control message with each datagram.
type ttlConn struct{ *net.UDPConn }

func (c *ttlConn) ReadFromTTL(b []byte) (int, netip.Addr, int, error) {
	oob := make([]byte, 64)
	n, oobn, _, src, err := c.ReadMsgUDPAddrPort(b, oob)
	if err != nil {
		return 0, netip.Addr{}, 0, err
	}
	ttl := -1
	msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_TTL && len(m.Data) >= 4 {
			ttl = int(int32(binary.NativeEndian.Uint32(m.Data)))
		}
	}
	return n, src.Addr().Unmap(), ttl, nil
}
