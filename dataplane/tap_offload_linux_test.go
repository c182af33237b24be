package dataplane

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/internal/netnsx"
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
	tap, err := newTAP("sp", os.NewFile(uintptr(fds[0]), "sp"), modeTAP, true)
	require.NoError(t, err)
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
	arp := ethFrame(macB, macA, 0x0806, 28, 1)
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
		n, err := tap.ReadBatch(bufs, sizes, 16)
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
	require.Equal(t, TAPStats{Reads: 4, SuperFrames: 2, Segments: uint64(len(want) - 2)}, s)
}

func TestTAPOffloadWriteCoalesces(t *testing.T) {
	tap, peer := socketTAP(t)
	v4, v6 := v4flow(), v6flow()
	segsA := v4.segments(1, 1, tcpFlagACK|tcpFlagPSH, payload(30*1448, 1), 1448)
	segsB := v6.segments(7, 0, tcpFlagACK, payload(10*1448, 2), 1448)
	bad := v4.segment(0, 0, tcpFlagACK, payload(100, 4))
	bad[len(bad)-1] ^= 0xff
	arp := ethFrame(macB, macA, 0x0806, 28, 1)
	var frames [][]byte
	frames = append(frames, segsA...)
	frames = append(frames, arp)
	frames = append(frames, segsB...)
	frames = append(frames, bad, v4.segment(99, 0, tcpFlagACK, nil))

	n, err := tap.WriteBatch(frames)
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
	require.Equal(t, TAPStats{Writes: 5, Coalesced: 40}, tap.Stats())
}

func TestTAPOffloadAllocatesNothing(t *testing.T) {
	tap, peer := socketTAP(t)
	fl := v4flow()
	data := payload(44*1448, 1)
	sf, h := fl.superFrame(5, 6, tcpFlagACK, data, 1448)
	msg := make([]byte, offload.VirtioNetHdrLen+len(sf))
	h.Encode(msg)
	copy(msg[offload.VirtioNetHdrLen:], sf)
	bufs, sizes := newBufs(BatchSize)
	frames := make([][]byte, 0, BatchSize)
	drain := make([]byte, tapReadBuf)
	allocs := testing.AllocsPerRun(50, func() {
		unix.Write(peer, msg)
		n, err := tap.ReadBatch(bufs, sizes, 16)
		if err != nil || n != 44 {
			panic(fmt.Sprint(n, err))
		}
		frames = frames[:0]
		for i := range n {
			frames = append(frames, bufs[i][16:16+sizes[i]])
		}
		if n, err := tap.WriteBatch(frames); err != nil || n != 44 {
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
	bufs, sizes := newBufs(BatchSize)
	frames := make([][]byte, 44)
	drain := make([]byte, tapReadBuf)
	b.SetBytes(int64(len(sf)))
	for b.Loop() {
		unix.Write(peer, msg)
		n, _ := tap.ReadBatch(bufs, sizes, 16)
		for i := range n {
			frames[i] = bufs[i][16 : 16+sizes[i]]
		}
		tap.WriteBatch(frames[:n])
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
	tn, err := newTAP("sp", os.NewFile(uintptr(fds[0]), "sp"), modeTUN, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	defer unix.Close(fds[1])
	const mss = 1338
	data := make([]byte, 45*mss+11)
	for i := range data {
		data[i] = byte(i * 7)
	}
	msg := superPacket(1000, data, mss)
	bufs, sizes := newBufs(BatchSize)
	out := make([][]byte, 0, BatchSize)
	got := make([]byte, len(msg)+100)
	round := func() {
		if _, err := unix.Write(fds[1], msg); err != nil {
			t.Fatal(err)
		}
		n, err := tn.ReadBatch(bufs, sizes, 16)
		if err != nil || n != 46 {
			t.Fatalf("read %d segments, %v", n, err)
		}
		out = out[:0]
		for i := range n {
			out = append(out, bufs[i][16:16+sizes[i]])
		}
		if w, err := tn.WriteBatch(out); err != nil || w != n {
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
	require.Equal(t, TAPStats{Reads: rounds, SuperFrames: rounds, Segments: rounds * 46, Writes: rounds, Coalesced: rounds * 46}, tn.Stats())
}

// TestNamespacesTCPTransferIntact sends 20 MB over TCP between two
// namespaces through ports with offload TAPs and compares SHA-256 sums:
// segmentation, MACsec and coalescing lose, reorder or corrupt nothing.
func TestNamespacesTCPTransferIntact(t *testing.T) {
	nettest.NeedRoot(t)
	for _, tc := range []struct {
		name   string
		macsec bool
		v6     bool
	}{{"MACsec IPv4", true, false}, {"MACsec IPv6", true, true}, {"clear IPv4", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := twoNodes(t)
			ya, yb := secyPair(t, 1, 1)
			if !tc.macsec {
				ya, yb = nil, nil
			}
			pa := openPortWith(t, OpenTAPOffload, a, "192.168.100.129/30", ya)
			pb := openPortWith(t, OpenTAPOffload, b, "192.168.100.130/30", yb)
			require.True(t, pa.ctrl.(*TAP).Offload())
			addr := "192.168.100.130:5201"
			if tc.v6 {
				for ns, ip := range map[string]string{a: "fd00::1/64", b: "fd00::2/64"} {
					nettest.Run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.er1.disable_ipv6=0")
					nettest.Run(t, "ip", "-n", ns, "addr", "add", ip, "dev", "er1", "nodad")
				}
				addr = "[fd00::2]:5201"
			}
			startPorts(t, pa, pb)
			transferIntact(t, a, b, addr, 20<<20)
			sa, sb := pa.ctrl.(*TAP).Stats(), pb.ctrl.(*TAP).Stats()
			t.Logf("A %+v, B %+v", sa, sb)
			require.NotZero(t, sa.SuperFrames, "A's kernel sent TSO super-frames")
			require.NotZero(t, sb.Coalesced, "B's kernel got coalesced super-frames")
			require.Zero(t, sa.Bad+sb.Bad)
		})
	}
}

func transferIntact(t *testing.T, a, b, addr string, size int) {
	var ln net.Listener
	require.NoError(t, netnsx.Do(b, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}))
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		h := sha256.New()
		n, err := io.Copy(h, c)
		got <- result{sum: [32]byte(h.Sum(nil)), n: n, err: err}
	}()
	var c net.Conn
	require.NoError(t, netnsx.Do(a, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}))
	r := rand.NewChaCha8([32]byte{1})
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(c, h), io.LimitReader(r, int64(size)))
	require.NoError(t, err)
	require.EqualValues(t, size, n)
	require.NoError(t, c.Close())
	select {
	case res := <-got:
		require.NoError(t, res.err)
		require.EqualValues(t, size, res.n)
		require.Equal(t, [32]byte(h.Sum(nil)), res.sum, "SHA-256 of what was received")
	case <-time.After(60 * time.Second):
		t.Fatal("transfer did not finish")
	}
}
