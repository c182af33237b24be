package frameio

import (
	"bytes"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUDPOffloadRoundTrip sends a run of equal ESP-sized datagrams with
// UDP_SEGMENT over loopback and receives them with UDP_GRO: one buffer,
// the segment size reported, the payload intact, nothing allocated.
func TestUDPOffloadRoundTrip(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SO_RCVBUFFORCE needs CAP_NET_ADMIN")
	}
	a, err := OpenUDP(netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort("127.0.0.1:9"))
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
	bEnd, err := OpenUDP(netip.MustParseAddrPort("127.0.0.2:0"), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)))
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
	const headroom = 40
	rbufs, sizes, segs := make([][]byte, 64), make([]int, 64), make([]int, 64)
	for i := range rbufs {
		rbufs[i] = make([]byte, headroom+65536)
	}
	round := func() {
		if sent, err := bEnd.Write(pkts, 0); err != nil || sent != len(pkts) {
			t.Fatalf("sent %d, %v", sent, err)
		}
		var got [][]byte
		for len(got) < len(pkts) {
			n, err := a.ReadSegments(rbufs, sizes, segs, headroom)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				seg := segs[i]
				if seg == 0 {
					seg = sizes[i]
				}
				for off := 0; off < sizes[i]; off += seg {
					got = append(got, rbufs[i][headroom+off:headroom+min(off+seg, sizes[i])])
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
	if bEnd.gso && (bEnd.Stats().GSOSends == 0 || a.Stats().GRORecvs == 0) {
		t.Fatalf("GSO sends %d, GRO receives %d", bEnd.Stats().GSOSends, a.Stats().GRORecvs)
	}
	t.Logf("GSO %v (sends %d), GRO %v (receives %d)", bEnd.gso, bEnd.Stats().GSOSends, a.gro, a.Stats().GRORecvs)
	allocs := testing.AllocsPerRun(50, func() {
		bEnd.Write(pkts, 0)
		for left := len(pkts); left > 0; {
			n, err := a.ReadSegments(rbufs, sizes, segs, headroom)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if segs[i] == 0 {
					left--
				} else {
					left -= (sizes[i] + segs[i] - 1) / segs[i]
				}
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run of %d datagrams", allocs, len(pkts))
	}
}
