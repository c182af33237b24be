package ipsec

import (
	"encoding/binary"
	"testing"
)

// tcpSYN returns an IPv4 TCP SYN with the given options and a correct
// checksum.
func tcpSYN(opts []byte) []byte {
	p := make([]byte, 40+len(opts))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8], p[9] = 64, 6
	copy(p[12:], []byte{10, 1, 0, 1, 10, 50, 0, 1})
	binary.BigEndian.PutUint16(p[10:], ^checksum(p[:20], 0))
	tcp := p[20:]
	binary.BigEndian.PutUint16(tcp, 40000)
	binary.BigEndian.PutUint16(tcp[2:], 5201)
	tcp[12] = byte((20+len(opts))/4) << 4
	tcp[13] = 0x02
	copy(tcp[20:], opts)
	binary.BigEndian.PutUint16(tcp[16:], ^tcpChecksum(p))
	return p
}

func tcpChecksum(p []byte) uint16 {
	tcp := p[20:]
	var pseudo [12]byte
	copy(pseudo[:], p[12:20])
	pseudo[9] = 6
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(tcp)))
	s := uint32(checksum(pseudo[:], 0))
	return checksum(tcp, s)
}

func TestClampMSS(t *testing.T) {
	for _, c := range []struct {
		opts    []byte
		changed bool
		want    uint16
	}{
		{[]byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2}, true, 1350},                  // 1460
		{[]byte{1, 2, 4, 0x05, 0xb4, 1, 1, 1}, true, 1350},                  // odd offset
		{[]byte{2, 4, 0x05, 0x00, 0, 0, 0, 0}, false, 1280},                 // already small
		{[]byte{4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 1, 1}, false, 0}, // no MSS
		{[]byte{2, 4, 0x23, 0x28, 3, 3, 7, 0}, true, 1350},                  // 9000
	} {
		p := tcpSYN(c.opts)
		if got := ClampMSS(p, DefaultMSS); got != c.changed {
			t.Fatalf("%x: changed %v", c.opts, got)
		}
		if tcpChecksum(p) != 0xFFFF {
			t.Fatalf("%x: TCP checksum wrong after clamping", c.opts)
		}
		if c.want != 0 {
			i := 40
			for p[i] != 2 {
				i++
			}
			if mss := binary.BigEndian.Uint16(p[i+2:]); mss != c.want {
				t.Fatalf("%x: MSS %d, want %d", c.opts, mss, c.want)
			}
		}
	}
	// Not a SYN: untouched.
	p := tcpSYN([]byte{2, 4, 0x05, 0xb4})
	p[33] = 0x10
	if ClampMSS(p, DefaultMSS) {
		t.Fatal("clamped an ACK")
	}
}

func TestTunnelMTU(t *testing.T) {
	// 1500 outer, IPv4, UDP: 1500-20-8-8-8-16 = 1440, minus the trailer.
	if got := TunnelMTU(1500, false, EncapUDP); got != 1438 {
		t.Fatalf("TunnelMTU = %d", got)
	}
	out, in := pair(t, 32, false, 64, 0)
	n := TunnelMTU(1500, false, EncapUDP)
	esp := seal(t, out, ipv4(n, 1), NextHeaderIPv4)
	if 20+UDPHeaderLen+len(esp) > 1500 {
		t.Fatalf("an inner packet of the tunnel MTU makes a %d-octet outer packet", 20+8+len(esp))
	}
	if _, r := open(in, esp); r != OK {
		t.Fatal(r)
	}
}
