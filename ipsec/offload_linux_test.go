package ipsec

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/internal/offload"
)

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
// whose kernel side is a socket pair, cuts it into segments, writes them
// back coalesced into the same super-packet, and allocates nothing.
func TestTUNOffloadRoundTrip(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(fds[0], true)
	tn, err := newTUN("sp", os.NewFile(uintptr(fds[0]), "sp"), true)
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
	b := newBatch(batchSize, bufSize, batchSize)
	got := make([]byte, len(msg)+100)
	round := func() {
		if _, err := unix.Write(fds[1], msg); err != nil {
			t.Fatal(err)
		}
		n, err := tn.readBatch(b.bufs, b.sizes, Headroom)
		if err != nil || n != 46 {
			t.Fatalf("read %d segments, %v", n, err)
		}
		b.out = b.out[:0]
		for i := range n {
			b.out = append(b.out, b.bufs[i][Headroom:Headroom+b.sizes[i]])
		}
		if w, err := tn.writeBatch(b.out); err != nil || w != n {
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
}

// TestUDPOffloadRoundTrip sends a run of equal ESP-sized datagrams with
// UDP_SEGMENT over loopback and receives them with UDP_GRO: one buffer,
// the segment size reported, the payload intact, nothing allocated.
func TestUDPOffloadRoundTrip(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SO_RCVBUFFORCE needs CAP_NET_ADMIN")
	}
	a, err := openUDP(netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort("127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rc, _ := a.f.SyscallConn()
	var port int
	rc.Control(func(fd uintptr) {
		sa, _ := unix.Getsockname(int(fd))
		port = sa.(*unix.SockaddrInet4).Port
	})
	bEnd, err := openUDP(netip.MustParseAddrPort("127.0.0.2:0"), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer bEnd.Close()
	rc, _ = bEnd.f.SyscallConn()
	rc.Control(func(fd uintptr) {
		sa, _ := unix.Getsockname(int(fd))
		port = sa.(*unix.SockaddrInet4).Port
	})
	unix.Connect(int(a.f.Fd()), &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 2}})

	pkts := make([][]byte, 40)
	for i := range pkts {
		n := 1390
		if i == len(pkts)-1 {
			n = 100
		}
		pkts[i] = bytes.Repeat([]byte{byte(i + 1)}, n)
	}
	rb := newBatch(rxSlots, rxBufSize, 0)
	round := func() {
		if sent, err := bEnd.writeBatch(pkts); err != nil || sent != len(pkts) {
			t.Fatalf("sent %d, %v", sent, err)
		}
		var got [][]byte
		for len(got) < len(pkts) {
			n, err := a.readBatch(rb.bufs, rb.sizes, rb.segs, Headroom)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				seg := rb.segs[i]
				if seg == 0 {
					seg = rb.sizes[i]
				}
				for off := 0; off < rb.sizes[i]; off += seg {
					got = append(got, rb.bufs[i][Headroom+off:Headroom+min(off+seg, rb.sizes[i])])
				}
			}
		}
		for i := range pkts {
			if !bytes.Equal(got[i], pkts[i]) {
				t.Fatalf("datagram %d differs", i)
			}
		}
	}
	round()
	if bEnd.gso && (bEnd.gsoSends.Load() == 0 || a.groRecvs.Load() == 0) {
		t.Fatalf("GSO sends %d, GRO receives %d", bEnd.gsoSends.Load(), a.groRecvs.Load())
	}
	t.Logf("GSO %v (sends %d), GRO %v (receives %d)", bEnd.gso, bEnd.gsoSends.Load(), a.gro, a.groRecvs.Load())
	allocs := testing.AllocsPerRun(50, func() {
		bEnd.writeBatch(pkts)
		for left := len(pkts); left > 0; {
			n, err := a.readBatch(rb.bufs, rb.sizes, rb.segs, Headroom)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if rb.segs[i] == 0 {
					left--
				} else {
					left -= (rb.sizes[i] + rb.segs[i] - 1) / rb.segs[i]
				}
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run of %d datagrams", allocs, len(pkts))
	}
}
