package lab

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/secylab/secylab/internal/netnsx"
)

// Probe ends: one end of an exercise's probe (sequence-numbered UDP each
// way) or of its bulk TCP flow, in a node's namespace. lab run opens the
// ends of its own half itself; on a lab spanning hosts the far half's lab
// process opens the far ends (ProbeEndOp, BulkEndOp) and streams back what
// they sent and received.

// ProbePort is the UDP port of probe flows; BulkPort the TCP port of bulk
// flows.
const (
	ProbePort = 47123
	BulkPort  = 47124
)

// probeMagic opens every probe datagram: "slprobe" and a version.
var probeMagic = [8]byte{'s', 'l', 'p', 'r', 'o', 'b', 'e', 1}

// ProbeEnd is a probe's UDP socket in a node's namespace.
type ProbeEnd struct{ conn *net.UDPConn }

// OpenProbeEnd binds ProbePort on addr in the namespace ns.
func OpenProbeEnd(ns string, addr netip.Addr) (*ProbeEnd, error) {
	var c *net.UDPConn
	err := netnsx.Do(ns, func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, ProbePort)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("probe socket %s: %w", addr, err)
	}
	return &ProbeEnd{conn: c}, nil
}

// Send sends a datagram to peer's ProbePort every interval until stop is
// closed, numbered from 0 and stamped with the send time, and tells sent
// of each. A send error (no route, no neighbour) is a lost probe, as on a
// real network.
func (e *ProbeEnd) Send(stop <-chan struct{}, peer netip.Addr, interval time.Duration, sent func(seq uint64, at time.Time)) {
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(peer, ProbePort))
	buf := make([]byte, 64)
	copy(buf, probeMagic[:])
	t := time.NewTicker(interval)
	defer t.Stop()
	for seq := uint64(0); ; seq++ {
		now := time.Now()
		binary.BigEndian.PutUint64(buf[8:], seq)
		binary.BigEndian.PutUint64(buf[16:], uint64(now.UnixNano()))
		sent(seq, now)
		e.conn.WriteToUDP(buf, dst)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// Receive tells got of every probe datagram that arrives (its number, its
// send time by the sender's clock, its arrival) until the end is closed.
func (e *ProbeEnd) Receive(got func(seq uint64, sent, at time.Time)) {
	buf := make([]byte, 256)
	for {
		n, _, err := e.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		at := time.Now()
		if n < 24 || [8]byte(buf[:8]) != probeMagic {
			continue
		}
		got(binary.BigEndian.Uint64(buf[8:]), time.Unix(0, int64(binary.BigEndian.Uint64(buf[16:]))), at)
	}
}

// Close closes the socket, ending Receive.
func (e *ProbeEnd) Close() error { return e.conn.Close() }
