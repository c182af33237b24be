package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/secylab/secylab/internal/frameio"
	"github.com/secylab/secylab/ipsec"
)

// The outer (tunnel) addresses of gateways A and B, and the hosts and
// networks they protect.
var (
	outerA = netip.MustParseAddr("192.168.77.1")
	outerB = netip.MustParseAddr("192.168.77.2")
	hostA  = netip.MustParseAddr("10.1.0.1")
	hostB  = netip.MustParseAddr("10.50.0.1")
	netA   = netip.MustParsePrefix("10.1.0.0/16")
	netB   = netip.MustParsePrefix("10.50.0.0/16")
)

// pipeTunnel is two userspace data paths joined by an in-memory wire, each
// with an in-memory TUN whose other end the test holds: hostA and hostB
// play the two protected hosts' IP stacks.
type pipeTunnel struct {
	a, b         *Userspace
	hostA, hostB *frameio.PipeEnd
}

func newPipeTunnel(t *testing.T) *pipeTunnel {
	t.Helper()
	hostA, tunA := frameio.Pipe("hostA", "tunA")
	hostB, tunB := frameio.Pipe("hostB", "tunB")
	wireA, wireB := frameio.Pipe("wireA", "wireB")
	k1, k2 := bytes.Repeat([]byte{1}, 36), bytes.Repeat([]byte{2}, 36)
	end := func(local, remote netip.Addr, lp, rp netip.Prefix, out, in []byte, tun frameio.Device, wire espConn) *Userspace {
		cfg := Config{Local: local, Remote: remote, LocalPrefixes: []netip.Prefix{lp}, RemotePrefixes: []netip.Prefix{rp},
			Out: ipsec.SAConfig{SPI: 0x1000 + uint32(out[0]), KEYMAT: out, ESN: true},
			In:  ipsec.SAConfig{SPI: 0x1000 + uint32(in[0]), KEYMAT: in, ESN: true, ReplayWindow: 1024}}
		if err := cfg.fill(); err != nil {
			t.Fatal(err)
		}
		u, err := newUserspace(UserspaceConfig{Local: netip.AddrPortFrom(local, 0), Remote: netip.AddrPortFrom(remote, 0)},
			func(*UserspaceConfig) (frameio.Device, espConn, error) { return tun, wire, nil })
		if err != nil {
			t.Fatal(err)
		}
		for _, sa := range []ipsec.SAConfig{cfg.Out, cfg.In} {
			if err := u.AddSA(sa); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range cfg.policies() {
			if err := u.AddPolicy(p); err != nil {
				t.Fatal(err)
			}
		}
		return u
	}
	p := &pipeTunnel{
		a:     end(outerA, outerB, netA, netB, k1, k2, tunA, wireA),
		b:     end(outerB, outerA, netB, netA, k2, k1, tunB, wireB),
		hostA: hostA, hostB: hostB,
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, u := range []*Userspace{p.a, p.b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := u.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return p
}

// udp4 is an IPv4 UDP packet from src to dst with n octets of payload.
func udp4(src, dst netip.Addr, n int) []byte {
	p := make([]byte, 28+n)
	p[0], p[8], p[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint16(p[20:], 40000)
	binary.BigEndian.PutUint16(p[22:], 5201)
	binary.BigEndian.PutUint16(p[24:], uint16(8+n))
	for i := 28; i < len(p); i++ {
		p[i] = byte(i)
	}
	return p
}

// TestUserspaceOverPipes carries a packet each way through two userspace
// data paths over in-memory devices: no root, no kernel.
func TestUserspaceOverPipes(t *testing.T) {
	p := newPipeTunnel(t)
	bufs, sizes := [][]byte{make([]byte, 2000)}, []int{0}
	for i, dir := range []struct {
		from, to *frameio.PipeEnd
		src, dst netip.Addr
	}{{p.hostA, p.hostB, hostA, hostB}, {p.hostB, p.hostA, hostB, hostA}} {
		pkt := udp4(dir.src, dir.dst, 1000+i)
		if _, err := dir.from.Write([][]byte{pkt}, 0); err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 1)
		go func() {
			if n, err := dir.to.Read(bufs, sizes, 0); err == nil && n == 1 {
				got <- bytes.Clone(bufs[0][:sizes[0]])
			}
		}()
		select {
		case g := <-got:
			if !bytes.Equal(g, pkt) {
				t.Fatalf("%v → %v: delivered packet differs", dir.src, dir.dst)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v → %v: nothing delivered; A %+v, B %+v", dir.src, dir.dst, p.a.Stats(), p.b.Stats())
		}
	}
	// A path counts a packet after handing it on: the reader may see the
	// packet before the counter moves.
	deadline := time.Now().Add(5 * time.Second)
	for {
		sa, sb := p.a.Stats(), p.b.Stats()
		if sa.TxPackets == 1 && sa.RxPackets == 1 && sb.TxPackets == 1 && sb.RxPackets == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A %+v, B %+v", sa, sb)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestForwardedPacketAllocatesNothing sends packets one at a time from
// host A through A's data path (policy, seal), the wire and B's (open,
// policy check) to host B: no allocation per packet on the way.
func TestForwardedPacketAllocatesNothing(t *testing.T) {
	p := newPipeTunnel(t)
	pkt := [][]byte{udp4(hostA, hostB, 1400)}
	bufs, sizes := [][]byte{make([]byte, 2000)}, []int{0}
	forward := func() {
		if _, err := p.hostA.Write(pkt, 0); err != nil {
			t.Fatal(err)
		}
		if n, err := p.hostB.Read(bufs, sizes, 0); n != 1 || err != nil || sizes[0] != len(pkt[0]) {
			t.Fatalf("read %d (%d octets), %v", n, sizes[0], err)
		}
	}
	for range frameio.PipeFrames {
		forward() // every slot of the pipes carries a packet once
	}
	if a := testing.AllocsPerRun(1000, forward); a != 0 {
		t.Fatalf("%v allocations per forwarded packet", a)
	}
}
