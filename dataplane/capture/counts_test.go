package capture

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Counts ride at the end of a pcapng stream: readers skip them (the frames
// read back unchanged), CountsAtEnd finds them.
func TestCountsAtTheEnd(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, PCAPNG)
	require.NoError(t, err)
	q := NewQueue(w, 16, time.Second, 0)
	c := NewCounter(q)
	macsecFrame := append(make([]byte, 12), 0x88, 0xe5, 0x2c, 0, 0, 0, 0, 1)
	clearFrame := append(make([]byte, 12), 0x08, 0x00, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2)
	c.Capture(time.Now(), macsecFrame)
	c.Capture(time.Now(), clearFrame)
	require.NoError(t, q.Close())
	require.NoError(t, w.WriteStats(2, 0))
	require.NoError(t, w.WriteCounts(c.Counts()))

	pkts, _, err := Read(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	require.Len(t, pkts, 2)
	r, err := NewReader(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	for {
		if _, err := r.Next(); err != nil {
			break
		}
	}
	dropped, ok := r.Dropped()
	require.True(t, ok)
	require.Zero(t, dropped)

	got, ok := CountsAtEnd(buf.Bytes())
	require.True(t, ok)
	require.Equal(t, Counts{Frames: 2, EtherTypes: map[string]uint64{"0x88e5": 1, "0x0800": 1}, Clear: 1}, got)
	_, ok = CountsAtEnd(buf.Bytes()[:buf.Len()-4])
	require.False(t, ok)
}

// udpFrame is an Ethernet/IPv4/UDP frame from sport to dport carrying
// payload.
func udpFrame(sport, dport uint16, payload []byte) []byte {
	f := append(make([]byte, 12), 0x08, 0x00)
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 172, 16, 1, 1, 172, 16, 2, 1}
	l := 20 + 8 + len(payload)
	ip[2], ip[3] = byte(l>>8), byte(l)
	f = append(f, ip...)
	f = append(f, byte(sport>>8), byte(sport), byte(dport>>8), byte(dport), byte((8+len(payload))>>8), byte(8+len(payload)), 0, 0)
	return append(f, payload...)
}

// ikeHeader is an IKEv2 IKE_SA_INIT request header (RFC 7296 §3.1) of a
// message n octets long.
func ikeHeader(n int) []byte {
	h := make([]byte, 28, n)
	copy(h, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	h[16], h[17], h[18], h[19] = 33, 0x20, 34, 0x08
	h[24], h[25], h[26], h[27] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return h[:n]
}

// IKE's own messages are the key exchange, not user payload: neither ESP
// nor clear. Clear user payload still counts, UDP to port 500 that is no
// IKE message and a clear ping included.
func TestClassifyIKE(t *testing.T) {
	ping := append(make([]byte, 12), 0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 1, 0, 10, 10, 50, 0, 10, 8, 0, 0, 0, 0, 1, 0, 1)
	for _, c := range []struct {
		name       string
		frame      []byte
		esp, clear bool
	}{
		{"IKE on UDP 500", udpFrame(500, 500, ikeHeader(64)), false, false},
		{"IKE on UDP 4500 behind the non-ESP marker", udpFrame(4500, 4500, append([]byte{0, 0, 0, 0}, ikeHeader(80)...)), false, false},
		{"ESP in UDP 4500", udpFrame(4500, 4500, append([]byte{0, 0, 0x10, 0x01, 0, 0, 0, 1}, make([]byte, 40)...)), true, false},
		{"NAT-keepalive-sized zeros on 4500, not IKE", udpFrame(4500, 4500, make([]byte, 8)), false, true},
		{"clear datagram to UDP 500", udpFrame(40000, 500, []byte("hello, not IKE at all, just user payload")), false, true},
		{"clear datagram on UDP 53", udpFrame(40000, 53, ikeHeader(64)), false, true},
		{"clear ping", ping, false, true},
		{"IPv6 neighbour solicitation", ipv6Frame(58, []byte{135, 0, 0, 0}), false, false},
		{"IPv6 MLDv2 report behind hop-by-hop", ipv6Frame(0, []byte{58, 0, 5, 2, 0, 0, 1, 0, 143, 0, 0, 0}), false, false},
		{"IPv6 ping", ipv6Frame(58, []byte{128, 0, 0, 0, 0, 1, 0, 1}), false, true},
		{"IPv6 UDP", ipv6Frame(17, []byte{0x9c, 0x40, 0, 53, 0, 8, 0, 0}), false, true},
	} {
		esp, clear := Classify(c.frame)
		require.Equal(t, c.esp, esp, c.name)
		require.Equal(t, c.clear, clear, c.name)
	}
	// A counter over a tunnel's wire: the IKE exchange and ESP are not
	// clear, the one clear ping is.
	c := NewCounter(discard{})
	c.Capture(time.Now(), udpFrame(500, 500, ikeHeader(64)))
	c.Capture(time.Now(), udpFrame(500, 500, ikeHeader(64)))
	c.Capture(time.Now(), udpFrame(4500, 4500, append([]byte{0, 0, 0x10, 0x01, 0, 0, 0, 1}, make([]byte, 40)...)))
	require.Zero(t, c.Counts().Clear)
	c.Capture(time.Now(), ping)
	require.Equal(t, uint64(1), c.Counts().Clear)
	require.Equal(t, uint64(1), c.Counts().ESPInUDP)
}

type discard struct{}

func (discard) Capture(time.Time, []byte) {}

// ipv6Frame is an Ethernet/IPv6 frame with next header next and payload.
func ipv6Frame(next byte, payload []byte) []byte {
	f := append(make([]byte, 12), 0x86, 0xdd, 0x60, 0, 0, 0, 0, byte(len(payload)), next, 255)
	f = append(f, make([]byte, 32)...)
	return append(f, payload...)
}
