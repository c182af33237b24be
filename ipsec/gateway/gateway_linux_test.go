package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/secylab/secylab/internal/frameio"
	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/ipsec/xfrm"
)

// minESP is the shortest ESP packet: header, IV, pad length, next header, ICV.
const minESP = ipsec.HeaderLen + ipsec.IVLen + 2 + ipsec.ICVLen

// lab is two gateways in two namespaces joined by a veth "wan", with
// the protected hosts 10.1.0.1 (A) and 10.50.0.1 (B) on their loopbacks.
type lab struct {
	nsA, nsB string
	a, b     *Gateway
	k1, k2   []byte // KEYMAT A→B and B→A
	stop     func()
}

// newLab builds the lab. keyBIn is the KEYMAT B expects on its inbound SA
// (nil: the one A sends with).
func newLab(t *testing.T, esn bool, keyBIn []byte) *lab { return newLabSN(t, esn, keyBIn, 0) }

// newLabSN is newLab with all SAs starting at SN initial.
func newLabSN(t *testing.T, esn bool, keyBIn []byte, initial uint64) *lab {
	t.Helper()
	nettest.NeedRoot(t)
	k1, k2 := make([]byte, 36), make([]byte, 36)
	rand.Read(k1)
	rand.Read(k2)
	l := &lab{k1: k1, k2: k2, nsA: nettest.Namespace(t, "ipa"), nsB: nettest.Namespace(t, "ipb")}
	nettest.Wire(t, l.nsA, l.nsB, "wan", 1500)
	nettest.Run(t, "ip", "-n", l.nsA, "addr", "add", outerA.String()+"/24", "dev", "wan")
	nettest.Run(t, "ip", "-n", l.nsB, "addr", "add", outerB.String()+"/24", "dev", "wan")
	nettest.Run(t, "ip", "-n", l.nsA, "addr", "add", hostA.String()+"/32", "dev", "lo")
	nettest.Run(t, "ip", "-n", l.nsB, "addr", "add", hostB.String()+"/32", "dev", "lo")

	if keyBIn == nil {
		keyBIn = k1
	}
	var err error
	l.a, err = New(Config{
		Namespace: l.nsA, Backend: ipsec.BackendUserspace, Local: outerA, Remote: outerB,
		LocalPrefixes: []netip.Prefix{netA}, RemotePrefixes: []netip.Prefix{netB}, RouteSrc: hostA, Logger: quiet,
		Out: ipsec.SAConfig{SPI: 0x1001, KEYMAT: k1, ESN: esn, InitialSN: initial}, In: ipsec.SAConfig{SPI: 0x2002, KEYMAT: k2, ESN: esn, ReplayWindow: 1024, InitialSN: initial},
	})
	if err != nil {
		t.Fatal(err)
	}
	l.b, err = New(Config{
		Namespace: l.nsB, Backend: ipsec.BackendUserspace, Local: outerB, Remote: outerA,
		LocalPrefixes: []netip.Prefix{netB}, RemotePrefixes: []netip.Prefix{netA}, RouteSrc: hostB, Logger: quiet,
		Out: ipsec.SAConfig{SPI: 0x2002, KEYMAT: k2, ESN: esn, InitialSN: initial}, In: ipsec.SAConfig{SPI: 0x1001, KEYMAT: keyBIn, ESN: esn, ReplayWindow: 1024, InitialSN: initial},
	})
	if err != nil {
		l.a.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, g := range []*Gateway{l.a, l.b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	l.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(l.stop)
	return l
}

// capture records the frames arriving on an interface of a namespace
// until the returned function is called, which returns them.
func capture(t *testing.T, ns, ifname string) func() [][]byte {
	t.Helper()
	var s *frameio.PacketSocket
	if err := netnsx.Do(ns, func() (err error) { s, err = frameio.OpenPacket(ifname); return }); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var frames [][]byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		bufs := make([][]byte, s.BatchSize())
		for i := range bufs {
			bufs[i] = make([]byte, 65536)
		}
		sizes := make([]int, len(bufs))
		for {
			n, err := s.Read(bufs, sizes, 0)
			if err != nil {
				return
			}
			mu.Lock()
			for i := range n {
				frames = append(frames, bytes.Clone(bufs[i][:sizes[i]]))
			}
			mu.Unlock()
		}
	}()
	return func() [][]byte {
		time.Sleep(50 * time.Millisecond)
		s.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return frames
	}
}

// captureWire is capture on an interface that carries ESP in UDP. The
// gateways send runs of ESP packets as one UDP_SEGMENT message, which a
// veth passes on whole, so a capture may hold a run in one frame: it is
// cut back into the ESP packets the peer's stack sees (and a kernel
// xfrm peer would). The run's segment size is not in the frame; each
// segment starts with the SPI and the next SN.
func captureWire(t *testing.T, ns, ifname string) func() [][]byte {
	get := capture(t, ns, ifname)
	return func() [][]byte {
		var out [][]byte
		for _, f := range get() {
			out = append(out, splitESPRun(f)...)
		}
		return out
	}
}

func splitESPRun(f []byte) [][]byte {
	if len(f) < 14+20+8+minESP || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[14] != 0x45 || f[14+9] != 17 ||
		binary.BigEndian.Uint16(f[14+20+2:]) != ipsec.UDPEncapPort {
		return [][]byte{f}
	}
	esp := f[14+20+8:]
	seg := 0
	for g := minESP; g+8 <= len(esp); g++ {
		if bytes.Equal(esp[g:g+4], esp[:4]) && binary.BigEndian.Uint32(esp[g+4:]) == binary.BigEndian.Uint32(esp[4:])+1 {
			seg = g
			break
		}
	}
	if seg == 0 {
		return [][]byte{f}
	}
	var out [][]byte
	for off := 0; off < len(esp); off += seg {
		p := esp[off:min(off+seg, len(esp))]
		g := append(bytes.Clone(f[:14+20+8]), p...)
		ip := g[14:]
		binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(p)))
		ip[10], ip[11] = 0, 0
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[i:]))
		}
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		binary.BigEndian.PutUint16(ip[20+4:], uint16(8+len(p)))
		ip[20+6], ip[20+7] = 0, 0 // no UDP checksum
		out = append(out, g)
	}
	return out
}

// checkOnlyESPinUDP fails unless every IPv4 frame is UDP to or from 4500
// carrying ESP with one of the SPIs; it returns how many there were.
func checkOnlyESPinUDP(t *testing.T, frames [][]byte, spis ...uint32) int {
	t.Helper()
	n := 0
	for _, f := range frames {
		et := binary.BigEndian.Uint16(f[12:])
		if et == 0x0806 { // ARP
			continue
		}
		if et != 0x0800 {
			t.Fatalf("frame with EtherType %#04x on the wire", et)
		}
		ipp := f[14:]
		if ipp[9] != 17 || binary.BigEndian.Uint16(ipp[20:]) != ipsec.UDPEncapPort || binary.BigEndian.Uint16(ipp[22:]) != ipsec.UDPEncapPort {
			t.Fatalf("not ESP in UDP on the wire: %x", ipp[:min(len(ipp), 40)])
		}
		esp := ipsec.UDPPayload(ipp[20:])
		if ipsec.ClassifyUDP(esp) != ipsec.UDPESP {
			t.Fatalf("UDP 4500 not carrying ESP: %x", esp)
		}
		spi := binary.BigEndian.Uint32(esp)
		ok := false
		for _, s := range spis {
			ok = ok || s == spi
		}
		if !ok {
			t.Fatalf("SPI %#x on the wire", spi)
		}
		// The inner addresses must not appear in clear.
		if bytes.Contains(esp, hostA.AsSlice()) && bytes.Contains(esp, hostB.AsSlice()) {
			t.Logf("inner addresses visible in an ESP packet (could be chance): %x", esp[:40])
		}
		n++
	}
	return n
}

// transfer sends size random octets over TCP from hostA to hostB and
// checks that what arrives has the same SHA-256.
func transfer(t *testing.T, l *lab, size int) { transferBetween(t, l.nsA, hostA, l.nsB, hostB, size) }

// transferBetween sends size random octets over TCP from host a in
// namespace nsA to host b in nsB and checks the SHA-256 of what arrives.
func transferBetween(t *testing.T, nsA string, hostA netip.Addr, nsB string, hostB netip.Addr, size int) {
	t.Helper()
	var ln net.Listener
	if err := netnsx.Do(nsB, func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(hostB.String(), "5001"))
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan [32]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- [32]byte{}
			return
		}
		defer c.Close()
		h := sha256.New()
		io.Copy(h, c)
		got <- [32]byte(h.Sum(nil))
	}()
	var c net.Conn
	if err := netnsx.Do(nsA, func() (err error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: hostA.AsSlice()}, Timeout: 5 * time.Second}
		c, err = d.Dial("tcp4", net.JoinHostPort(hostB.String(), "5001"))
		return
	}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data)
	want := sha256.Sum256(data)
	start := time.Now()
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case h := <-got:
		if h != want {
			t.Fatalf("SHA-256 of what arrived %x, sent %x", h, want)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("transfer timed out")
	}
	el := time.Since(start)
	t.Logf("%d MB in %v: %.2f Gbit/s (through two userspace gateways in this process, under -race if on)", size>>20, el.Round(time.Millisecond), float64(size)*8/el.Seconds()/1e9)
}

func TestGatewayTunnel(t *testing.T) {
	for _, esn := range []bool{false, true} {
		name := "32-bit SN"
		if esn {
			name = "ESN"
		}
		t.Run(name, func(t *testing.T) {
			l := newLab(t, esn, nil)
			wanB := captureWire(t, l.nsB, "wan")
			wanA := captureWire(t, l.nsA, "wan")
			tunB := capture(t, l.nsB, "ipsec0")
			if err := nettest.Ping(l.nsA, hostB.String(), 5); err != nil {
				t.Fatal(err)
			}
			transfer(t, l, 20<<20)
			fb, fa, ft := wanB(), wanA(), tunB()
			nb := checkOnlyESPinUDP(t, fb, 0x1001)
			na := checkOnlyESPinUDP(t, fa, 0x2002)
			if nb < 10000 || na < 100 {
				t.Fatalf("ESP packets seen: A→B %d, B→A %d", nb, na)
			}
			// The SYN came out of B's TUN with its MSS clamped to 1350.
			syns := 0
			for _, p := range ft {
				if len(p) >= 40 && p[0]>>4 == 4 && p[9] == 6 && p[33]&0x12 == 0x02 {
					syns++
					if mss := synMSS(p); mss != ipsec.DefaultMSS {
						t.Fatalf("SYN through the tunnel with MSS %d, want %d", mss, ipsec.DefaultMSS)
					}
				}
			}
			if syns == 0 {
				t.Fatal("no SYN seen on B's TUN")
			}
			st, err := l.b.Status()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st.States {
				if s.Config.Dir == ipsec.DirIn && (s.Stats.Packets < 10000 || s.Stats.IntegrityFailed != 0) {
					t.Fatalf("B inbound %+v", s.Stats)
				}
			}
			if st.DataPath.MSSClamped == 0 || st.Backend != ipsec.BackendUserspace {
				t.Fatalf("status %+v", st)
			}
			t.Logf("B: %+v", *st.DataPath)
		})
	}
}

// synMSS returns the MSS option of an IPv4 TCP SYN.
func synMSS(p []byte) uint16 {
	tcp := p[int(p[0]&0xF)*4:]
	opts := tcp[20 : int(tcp[12]>>4)*4]
	for i := 0; i+1 < len(opts); {
		switch opts[i] {
		case 0:
			return 0
		case 1:
			i++
			continue
		case 2:
			return binary.BigEndian.Uint16(opts[i+2:])
		}
		i += int(opts[i+1])
	}
	return 0
}

func TestGatewayMismatchedKeys(t *testing.T) {
	wrong := make([]byte, 36)
	rand.Read(wrong)
	l := newLab(t, false, wrong)
	wanB := captureWire(t, l.nsB, "wan")
	tunB := capture(t, l.nsB, "ipsec0")
	if err := nettest.Ping(l.nsA, hostB.String(), 5); err == nil {
		t.Fatal("ping crossed a tunnel with mismatched keys")
	}
	var c net.Conn
	err := netnsx.Do(l.nsA, func() (err error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: hostA.AsSlice()}, Timeout: 2 * time.Second}
		c, err = d.Dial("tcp4", net.JoinHostPort(hostB.String(), "5001"))
		return
	})
	if err == nil {
		c.Close()
		t.Fatal("TCP connected across mismatched keys")
	}
	if n := checkOnlyESPinUDP(t, wanB(), 0x1001); n < 5 {
		t.Fatalf("only %d ESP packets on the wire", n)
	}
	if f := tunB(); len(f) != 0 {
		t.Fatalf("%d packets delivered behind B", len(f))
	}
	st, _ := l.b.Status()
	for _, s := range st.States {
		if s.Config.Dir == ipsec.DirIn && (s.Stats.Packets != 0 || s.Stats.IntegrityFailed < 5) {
			t.Fatalf("B inbound with the wrong key: %+v", s.Stats)
		}
	}
	if st.DataPath.Drops[ipsec.IntegrityFailed] < 5 || st.DataPath.RxPackets != 0 {
		t.Fatalf("data path %+v", *st.DataPath)
	}
}

func TestGatewayForcedKernel(t *testing.T) {
	nettest.NeedRoot(t)
	ns := nettest.Namespace(t, "ipk")
	r := xfrm.Probe()
	_, err := New(Config{
		Namespace: ns, Backend: ipsec.BackendKernel, Local: outerA, Remote: outerB,
		LocalPrefixes: []netip.Prefix{netA}, RemotePrefixes: []netip.Prefix{netB},
		Out: ipsec.SAConfig{SPI: 0x1001, KEYMAT: make([]byte, 20)}, In: ipsec.SAConfig{SPI: 0x2002, KEYMAT: make([]byte, 20)},
	})
	if r.Kernel {
		t.Skipf("the kernel has AES-GCM ESP here (%s); forcing it works", r.Reason)
	}
	if !errors.Is(err, ErrBackendUnavailable) {
		t.Fatalf("forcing the kernel backend here: %v", err)
	}
	t.Log(err)
}

var quiet = slog.New(slog.DiscardHandler)
