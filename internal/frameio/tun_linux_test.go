package frameio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/internal/offload"
)

// socketTAP is a TAP with offloads whose kernel side is the peer end of a
// SOCK_SEQPACKET socket pair: one message per frame, as on /dev/net/tun,
// with no root needed.
func socketTAP(t testing.TB) (*TAP, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	require.NoError(t, unix.SetNonblock(fds[0], true))
	d, err := newTUNDevice("sp", os.NewFile(uintptr(fds[0]), "sp"), modeTAP, true)
	require.NoError(t, err)
	tap := &TAP{d}
	t.Cleanup(func() { tap.Close(); unix.Close(fds[1]) })
	return tap, fds[1]
}

func sendVnet(t *testing.T, fd int, h offload.VirtioNetHdr, frame []byte) {
	t.Helper()
	b := make([]byte, offload.VirtioNetHdrLen, offload.VirtioNetHdrLen+len(frame))
	h.Encode(b)
	_, err := unix.Write(fd, append(b, frame...))
	require.NoError(t, err)
}

// recvVnet returns the messages waiting at fd, cut back into frames with
// the segmenter, and each message's header.
func recvVnet(t *testing.T, fd int) (frames [][]byte, hdrs []offload.VirtioNetHdr) {
	t.Helper()
	buf := make([]byte, tapReadBuf)
	for {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN {
			return frames, hdrs
		}
		require.NoError(t, err)
		var h offload.VirtioNetHdr
		h.Decode(buf)
		hdrs = append(hdrs, h)
		pkt := bytes.Clone(buf[offload.VirtioNetHdrLen:n])
		if h.GSOType == offload.GSONone {
			frames = append(frames, pkt)
			continue
		}
		var g offload.GSO
		require.NoError(t, g.Init(pkt, &h, offload.LinkEthernet))
		for g.Pending() {
			seg := make([]byte, 2000)
			frames = append(frames, seg[:g.Cut(seg)])
		}
	}
}

var (
	macA = []byte{2, 0, 0, 0, 0xA, 1}
	macB = []byte{2, 0, 0, 0, 0xB, 1}
)

func newBufs(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, 16+2000)
	}
	return bufs, make([]int, n)
}

func TestTAPOffloadReadKeepsRemainder(t *testing.T) {
	tap, peer := socketTAP(t)
	var want [][]byte
	v4, v6 := v4flow(), v6flow()
	dataA, dataB := payload(44*1448+500, 1), payload(20*1448, 2)
	sf, h := v4.superFrame(5, 6, tcpFlagACK|tcpFlagPSH, dataA, 1448)
	sendVnet(t, peer, h, sf)
	want = append(want, v4.segments(5, 6, tcpFlagACK|tcpFlagPSH, dataA, 1448)...)
	arp := nettest.EthFrame(macB, macA, 0x0806, 28, 1)
	sendVnet(t, peer, offload.VirtioNetHdr{}, arp)
	want = append(want, arp)
	small, hs := v6.superFrame(9, 0, tcpFlagACK, payload(100, 3), 1448)
	hs.GSOType, hs.GSOSize = offload.GSONone, 0
	sendVnet(t, peer, hs, small)
	want = append(want, v6.segment(9, 0, tcpFlagACK, payload(100, 3)))
	sf, h = v6.superFrame(1e9, 0, tcpFlagACK|tcpFlagFIN, dataB, 1448)
	sendVnet(t, peer, h, sf)
	want = append(want, v6.segments(1e9, 0, tcpFlagACK|tcpFlagFIN, dataB, 1448)...)

	bufs, sizes := newBufs(16)
	var got [][]byte
	for len(got) < len(want) {
		n, err := tap.Read(bufs, sizes, 16)
		require.NoError(t, err)
		require.NotZero(t, n)
		for i := range n {
			got = append(got, bytes.Clone(bufs[i][16:16+sizes[i]]))
		}
	}
	require.Equal(t, len(want), len(got))
	for i := range want {
		require.Equal(t, want[i], got[i], "frame %d", i)
	}
	s := tap.Stats()
	require.Equal(t, TUNStats{Reads: 4, SuperFrames: 2, Segments: uint64(len(want) - 2)}, s)
}

func TestTAPOffloadWriteCoalesces(t *testing.T) {
	tap, peer := socketTAP(t)
	v4, v6 := v4flow(), v6flow()
	segsA := v4.segments(1, 1, tcpFlagACK|tcpFlagPSH, payload(30*1448, 1), 1448)
	segsB := v6.segments(7, 0, tcpFlagACK, payload(10*1448, 2), 1448)
	bad := v4.segment(0, 0, tcpFlagACK, payload(100, 4))
	bad[len(bad)-1] ^= 0xff
	arp := nettest.EthFrame(macB, macA, 0x0806, 28, 1)
	var frames [][]byte
	frames = append(frames, segsA...)
	frames = append(frames, arp)
	frames = append(frames, segsB...)
	frames = append(frames, bad, v4.segment(99, 0, tcpFlagACK, nil))

	n, err := tap.Write(frames, 0)
	require.NoError(t, err)
	require.Equal(t, len(frames), n)
	got, hdrs := recvVnet(t, peer)
	require.Equal(t, frames, got, "frames come back intact and in order")
	require.Len(t, hdrs, 5)
	require.Equal(t, uint8(offload.GSOTCPv4), hdrs[0].GSOType)
	require.Equal(t, uint8(0), hdrs[1].Flags, "ARP: no checksum to vouch for")
	require.Equal(t, uint8(offload.GSOTCPv6), hdrs[2].GSOType)
	require.Equal(t, uint8(0), hdrs[3].Flags, "a wrong checksum is left for the kernel to find")
	require.Equal(t, uint8(offload.FlagDataValid), hdrs[4].Flags)
	require.Equal(t, TUNStats{Writes: 5, Coalesced: 40}, tap.Stats())
}

func TestTAPOffloadAllocatesNothing(t *testing.T) {
	tap, peer := socketTAP(t)
	fl := v4flow()
	data := payload(44*1448, 1)
	sf, h := fl.superFrame(5, 6, tcpFlagACK, data, 1448)
	msg := make([]byte, offload.VirtioNetHdrLen+len(sf))
	h.Encode(msg)
	copy(msg[offload.VirtioNetHdrLen:], sf)
	bufs, sizes := newBufs(tapBatch)
	frames := make([][]byte, 0, tapBatch)
	drain := make([]byte, tapReadBuf)
	allocs := testing.AllocsPerRun(50, func() {
		unix.Write(peer, msg)
		n, err := tap.Read(bufs, sizes, 16)
		if err != nil || n != 44 {
			panic(fmt.Sprint(n, err))
		}
		frames = frames[:0]
		for i := range n {
			frames = append(frames, bufs[i][16:16+sizes[i]])
		}
		if n, err := tap.Write(frames, 0); err != nil || n != 44 {
			panic(fmt.Sprint(n, err))
		}
		unix.Read(peer, drain)
	})
	require.Zero(t, allocs)
}

func BenchmarkTAPOffload(b *testing.B) {
	tap, peer := socketTAP(b)
	fl := v4flow()
	sf, h := fl.superFrame(5, 6, tcpFlagACK, payload(44*1448, 1), 1448)
	msg := make([]byte, offload.VirtioNetHdrLen+len(sf))
	h.Encode(msg)
	copy(msg[offload.VirtioNetHdrLen:], sf)
	bufs, sizes := newBufs(tapBatch)
	frames := make([][]byte, 44)
	drain := make([]byte, tapReadBuf)
	b.SetBytes(int64(len(sf)))
	for b.Loop() {
		unix.Write(peer, msg)
		n, _ := tap.Read(bufs, sizes, 16)
		for i := range n {
			frames[i] = bufs[i][16 : 16+sizes[i]]
		}
		tap.Write(frames[:n], 0)
		unix.Read(peer, drain)
	}
}

// superPacket is an IPv4 TCP super-packet as a TUN with TSO hands it
// over: the virtio header, then the packet with the pseudo-header sum in
// the TCP checksum.
func superPacket(seq uint32, payload []byte, mss int) []byte {
	p := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 1, 0, 1, 10, 50, 0, 1}
	binary.BigEndian.PutUint16(p[2:], uint16(40+len(payload)))
	binary.BigEndian.PutUint16(p[10:], ^offload.ChecksumFold(offload.ChecksumAdd(p, 0)))
	p = binary.BigEndian.AppendUint16(p, 40000)
	p = binary.BigEndian.AppendUint16(p, 5201)
	p = binary.BigEndian.AppendUint32(p, seq)
	p = binary.BigEndian.AppendUint32(p, 1)
	p = append(p, 5<<4, 0x18, 0xfa, 0xf0, 0, 0, 0, 0)
	p = append(p, payload...)
	binary.BigEndian.PutUint16(p[36:], offload.ChecksumFold(offload.PseudoHeaderSum(p[12:16], p[16:20], 6, len(p)-20)))
	h := offload.VirtioNetHdr{Flags: offload.FlagNeedsCsum, GSOType: offload.GSOTCPv4, HdrLen: 40, GSOSize: uint16(mss), CsumStart: 20, CsumOffset: 16}
	b := make([]byte, offload.VirtioNetHdrLen, offload.VirtioNetHdrLen+len(p))
	h.Encode(b)
	return append(b, p...)
}

// TestTUNOffloadRoundTrip reads a super-packet from a TUN with offloads
// whose kernel side is a socket pair, cuts it into bare IP segments,
// writes them back coalesced into the same super-packet, and allocates
// nothing. This is how the userspace IPsec backend uses a TUN.
func TestTUNOffloadRoundTrip(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(fds[0], true)
	d, err := newTUNDevice("sp", os.NewFile(uintptr(fds[0]), "sp"), modeTUN, true)
	if err != nil {
		t.Fatal(err)
	}
	tn := &TUN{d}
	defer tn.Close()
	defer unix.Close(fds[1])
	const mss = 1338
	data := make([]byte, 45*mss+11)
	for i := range data {
		data[i] = byte(i * 7)
	}
	msg := superPacket(1000, data, mss)
	bufs, sizes := newBufs(tapBatch)
	out := make([][]byte, 0, tapBatch)
	got := make([]byte, len(msg)+100)
	round := func() {
		if _, err := unix.Write(fds[1], msg); err != nil {
			t.Fatal(err)
		}
		n, err := tn.Read(bufs, sizes, 16)
		if err != nil || n != 46 {
			t.Fatalf("read %d segments, %v", n, err)
		}
		out = out[:0]
		for i := range n {
			out = append(out, bufs[i][16:16+sizes[i]])
		}
		if w, err := tn.Write(out, 0); err != nil || w != n {
			t.Fatalf("wrote %d, %v", w, err)
		}
		m, err := unix.Read(fds[1], got)
		if err != nil || !bytes.Equal(got[:m], msg) {
			t.Fatalf("coalesced write (%v) differs from the super-packet read", err)
		}
	}
	round()
	if a := testing.AllocsPerRun(50, round); a != 0 {
		t.Fatalf("%v allocations per 46 segments", a)
	}
	const rounds = 1 + 1 + 50 // AllocsPerRun runs round once more to warm up
	require.Equal(t, TUNStats{Reads: rounds, SuperFrames: rounds, Segments: rounds * 46, Writes: rounds, Coalesced: rounds * 46}, tn.Stats())
}
