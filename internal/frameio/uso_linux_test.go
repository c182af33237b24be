package frameio

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/internal/offload"
)

// udpDatagram is an IPv4 UDP datagram from src:4500 to dst:4500 (no link
// header) with correct checksums.
func udpDatagram(src, dst [4]byte, id uint16, payload []byte) []byte {
	p := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0}
	p = append(append(p, src[:]...), dst[:]...)
	binary.BigEndian.PutUint16(p[2:], uint16(28+len(payload)))
	binary.BigEndian.PutUint16(p[4:], id)
	binary.BigEndian.PutUint16(p[10:], ^offload.ChecksumFold(offload.ChecksumAdd(p, 0)))
	p = append(p, 0x11, 0x94, 0x11, 0x94, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	p = append(p, payload...)
	c := ^offload.ChecksumFold(offload.ChecksumAdd(p[20:], offload.PseudoHeaderSum(src[:], dst[:], 17, len(p)-20)))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(p[26:], c)
	return p
}

// TestTUNUDPOffloadRoundTrip: with USO, a run of datagrams of one flow
// written to the device goes as one UDP super-packet, which read back is
// cut into the same datagrams, with nothing allocated.
func TestTUNUDPOffloadRoundTrip(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	require.NoError(t, unix.SetNonblock(fds[0], true))
	d, err := newTUNDevice("sp", os.NewFile(uintptr(fds[0]), "sp"), modeTUN, true)
	require.NoError(t, err)
	d.uso = true
	tn := &TUN{d}
	t.Cleanup(func() { tn.Close(); unix.Close(fds[1]) })
	a, b := [4]byte{10, 77, 0, 2}, [4]byte{10, 77, 0, 1}
	var frames [][]byte
	for i := range 30 {
		frames = append(frames, udpDatagram(a, b, uint16(100+i), payload(1400-20*(i/29), byte(i))))
	}
	frames = append(frames, udpDatagram(a, b, 200, payload(1400, 9))) // ID out of order: a new run
	bufs, sizes := newBufs(tapBatch)
	out := make([][]byte, 0, tapBatch)
	got := make([]byte, tapReadBuf)
	round := func() {
		if w, err := tn.Write(frames, 0); err != nil || w != len(frames) {
			t.Fatalf("wrote %d, %v", w, err)
		}
		for _, want := range []int{30, 1} {
			m, err := unix.Read(fds[1], got)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := unix.Write(fds[1], got[:m]); err != nil {
				t.Fatal(err)
			}
			n, err := tn.Read(bufs, sizes, 16)
			if err != nil || n != want {
				t.Fatalf("read %d datagrams, want %d (%v)", n, want, err)
			}
			out = out[:0]
			for i := range n {
				out = append(out, bufs[i][16:16+sizes[i]])
			}
			first := len(frames) - 1
			if want == 30 {
				first = 0
			}
			for i, f := range out {
				if !bytes.Equal(f, frames[first+i]) {
					t.Fatalf("datagram %d differs after the round trip", first+i)
				}
			}
		}
	}
	round()
	require.Equal(t, TUNStats{Reads: 2, SuperFrames: 1, Segments: 30, Writes: 2, Coalesced: 30}, tn.Stats())
	if a := testing.AllocsPerRun(20, round); a != 0 {
		t.Fatalf("%v allocations per round", a)
	}
}

// TestTUNUDPOffloadKernel checks with the running kernel (root): the TUN
// gets USO; datagrams written coalesced reach a UDP socket one by one,
// intact; a UDP_SEGMENT send through the TUN is read as the datagrams it
// was made of.
func TestTUNUDPOffloadKernel(t *testing.T) {
	nettest.NeedRoot(t)
	ns := nettest.Namespace(t, "uso")
	var tn *TUN
	var sock int
	require.NoError(t, netnsx.Do(ns, func() (err error) {
		if tn, err = OpenTUN("uso0", true); err != nil {
			return err
		}
		nettest.Run(t, "ip", "addr", "add", "10.77.0.1/24", "dev", "uso0")
		nettest.Run(t, "ip", "link", "set", "uso0", "up")
		sock, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.Bind(sock, &unix.SockaddrInet4{Port: 4500, Addr: [4]byte{10, 77, 0, 1}})
	}))
	t.Cleanup(func() { tn.Close(); unix.Close(sock) })
	require.True(t, tn.Offload())
	if !tn.uso {
		t.Skip("this kernel refuses TUN_F_USO4|USO6 (Linux before 6.2)")
	}
	require.NoError(t, unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2}))

	a, b := [4]byte{10, 77, 0, 2}, [4]byte{10, 77, 0, 1}
	var frames [][]byte
	for i := range 20 {
		frames = append(frames, udpDatagram(a, b, uint16(7+i), payload(1300-100*(i/19), byte(i))))
	}
	n, err := tn.Write(frames, 0)
	require.NoError(t, err)
	require.Equal(t, len(frames), n)
	require.Equal(t, TUNStats{Writes: 1, Coalesced: 20}, tn.Stats())
	buf := make([]byte, 2000)
	for i, f := range frames {
		m, _, err := unix.Recvfrom(sock, buf, 0)
		require.NoError(t, err, "datagram %d", i)
		require.Equal(t, f[28:], buf[:m], "datagram %d", i)
	}

	// The other way: 12 datagrams of 1000 octets in one UDP_SEGMENT send.
	data := payload(12*1000, 5)
	require.NoError(t, unix.SetsockoptInt(sock, unix.SOL_UDP, unix.UDP_SEGMENT, 1000))
	require.NoError(t, unix.Sendto(sock, data, 0, &unix.SockaddrInet4{Port: 4500, Addr: a}))
	bufs, sizes := newBufs(tapBatch)
	var got [][]byte
	deadline := time.Now().Add(2 * time.Second)
	for len(got) < 12 && time.Now().Before(deadline) {
		n, err := tn.Read(bufs, sizes, 16)
		require.NoError(t, err)
		for i := range n {
			if p := bufs[i][16 : 16+sizes[i]]; p[0]>>4 == 4 { // not IPv6's router solicitations
				got = append(got, bytes.Clone(p))
			}
		}
	}
	require.Equal(t, 12, len(got))
	for i, g := range got {
		require.True(t, offload.L4ChecksumOK(g, offload.LinkIP), "datagram %d: checksums", i)
		require.Equal(t, data[i*1000:(i+1)*1000], g[28:], "datagram %d", i)
	}
	s := tn.Stats()
	require.Equal(t, uint64(1), s.SuperFrames, "the send came as one super-packet: %+v", s)
	require.Equal(t, uint64(12), s.Segments)
}
