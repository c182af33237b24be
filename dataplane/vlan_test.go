package dataplane

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

// sink is a Device that keeps a copy of every frame written to it.
type sink struct{ frames [][]byte }

func (s *sink) Name() string   { return "sink" }
func (s *sink) Close() error   { return nil }
func (s *sink) BatchSize() int { return 64 }
func (s *sink) Read([][]byte, []int, int) (int, error) {
	return 0, net.ErrClosed
}
func (s *sink) Write(frames [][]byte, off int) (int, error) {
	for _, f := range frames {
		s.frames = append(s.frames, bytes.Clone(f[off:]))
	}
	return len(frames), nil
}

// frames is a Device that serves a list of frames once.
type frames struct {
	sink
	in [][]byte
}

func (f *frames) Read(bufs [][]byte, sizes []int, off int) (int, error) {
	if len(f.in) == 0 {
		return 0, net.ErrClosed
	}
	n := min(len(bufs), len(f.in))
	for i := range n {
		sizes[i] = copy(bufs[i][off:], f.in[i])
	}
	f.in = f.in[n:]
	return n, nil
}

// gopacketFrame builds a UDP datagram from A to B in an Ethernet frame
// with the tags of v (none when v is nil), serialised by gopacket. Its
// length is exact: a TAP hands over frames without padding.
func gopacketFrame(t testing.TB, v *VLAN, payload int) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	ls = append(ls, eth)
	if v != nil {
		eth.EthernetType = layers.EthernetTypeDot1Q
		if v.STag != 0 {
			eth.EthernetType = layers.EthernetTypeQinQ
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: v.STag, Type: layers.EthernetTypeDot1Q})
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: v.CTag, Type: layers.EthernetTypeIPv4})
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IPv4(192, 168, 100, 129), DstIP: net.IPv4(192, 168, 100, 130)}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 5201}
	require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
	ls = append(ls, ip, udp, gopacket.Payload(bytes.Repeat([]byte{0x5a}, payload)))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	b := buf.Bytes()
	ipAt := 14
	if v != nil {
		ipAt += v.TagLen()
	}
	return slices.Clone(b[:ipAt+int(binary.BigEndian.Uint16(b[ipAt+2:]))])
}

var (
	dot1q = VLAN{CTag: 100}
	qinq  = VLAN{STag: 10, CTag: 200}
)

// TestTagVectors: the frames a port tags on the way to the wire are the
// frames gopacket builds with the same 802.1Q or 802.1ad tags, and the
// tagged frames gopacket builds arrive untagged at the right
// sub-interface, byte for byte, for short and full-size frames.
func TestTagVectors(t *testing.T) {
	for _, v := range []VLAN{dot1q, qinq, {CTag: 4094}, {STag: 4094, CTag: 1}} {
		t.Run(v.String(), func(t *testing.T) {
			for _, size := range []int{0, 18, 1472} {
				untagged, tagged := gopacketFrame(t, nil, size), gopacketFrame(t, &v, size)

				sub, wire := &frames{in: [][]byte{untagged}}, &sink{}
				p := NewPort("tx", &sink{}, wire, nil, 1)
				p.SetVLANs([]VLAN{{Dev: sub, STag: v.STag, CTag: v.CTag}})
				require.ErrorIs(t, p.transmitFrom(sub, &p.subs[0].VLAN), net.ErrClosed)
				require.Len(t, wire.frames, 1)
				require.Equal(t, hex.EncodeToString(tagged), hex.EncodeToString(wire.frames[0]), "tagged by the port")

				ctrl, sub2 := &sink{}, &sink{}
				q := NewPort("rx", ctrl, &frames{in: [][]byte{tagged}}, nil, 1)
				q.SetVLANs([]VLAN{{Dev: sub2, STag: v.STag, CTag: v.CTag}})
				require.ErrorIs(t, q.receive(), net.ErrClosed)
				require.Empty(t, ctrl.frames)
				require.Len(t, sub2.frames, 1)
				require.Equal(t, hex.EncodeToString(untagged), hex.EncodeToString(sub2.frames[0]), "untagged by the port")
			}
		})
	}
}

// TestUnknownVLANDropped: on a port with VLANs, a frame with other tags
// (another VID, a C-tag where the port has an S-tag, an S-tag without a
// C-tag, a tag cut short) is dropped and counted; an untagged frame goes
// to the port's own device; each known VLAN gets its own frames.
func TestUnknownVLANDropped(t *testing.T) {
	untagged := gopacketFrame(t, nil, 64)
	cut := gopacketFrame(t, &dot1q, 0)[:16]
	sOnly := slices.Clone(gopacketFrame(t, &qinq, 8))
	binary.BigEndian.PutUint16(sOnly[16:], 0x0800)
	in := [][]byte{
		gopacketFrame(t, &VLAN{CTag: 101}, 64),
		gopacketFrame(t, &VLAN{CTag: 10}, 64), // qinq's S-VID as a C-tag
		gopacketFrame(t, &VLAN{STag: 11, CTag: 200}, 64),
		sOnly, cut,
		untagged,
		gopacketFrame(t, &dot1q, 64),
		gopacketFrame(t, &qinq, 64),
	}
	ctrl, a, b := &sink{}, &sink{}, &sink{}
	p := NewPort("rx", ctrl, &frames{in: in}, nil, 1)
	p.SetVLANs([]VLAN{{Dev: a, CTag: dot1q.CTag}, {Dev: b, STag: qinq.STag, CTag: qinq.CTag}})
	require.ErrorIs(t, p.receive(), net.ErrClosed)
	st := p.Stats()
	require.Equal(t, uint64(5), st.RxUnknownVLAN)
	require.Equal(t, uint64(3), st.RxFrames)
	require.Equal(t, [][]byte{untagged}, ctrl.frames)
	require.Equal(t, [][]byte{gopacketFrame(t, nil, 64)}, a.frames)
	require.Equal(t, [][]byte{gopacketFrame(t, nil, 64)}, b.frames)
}

// TestNoVLANsPassesTags: a port without VLANs (no circuits) passes tagged
// frames unchanged, as before circuits existed.
func TestNoVLANsPassesTags(t *testing.T) {
	tagged := gopacketFrame(t, &dot1q, 64)
	ctrl := &sink{}
	p := NewPort("rx", ctrl, &frames{in: [][]byte{tagged}}, nil, 1)
	require.ErrorIs(t, p.receive(), net.ErrClosed)
	require.Equal(t, [][]byte{tagged}, ctrl.frames)
	require.Zero(t, p.Stats().RxUnknownVLAN)
}

// TestMACsecProtectsTags: with MACsec on, the tags are secure data: the
// wire frame's EtherType is MACsec's and the VID appears nowhere in
// clear; the receiving port validates, untags and delivers to the
// sub-interface the very frame that was sent.
func TestMACsecProtectsTags(t *testing.T) {
	for _, v := range []VLAN{dot1q, qinq} {
		t.Run(v.String(), func(t *testing.T) {
			ya, yb := secyPair(t, 1, 1)
			untagged := gopacketFrame(t, nil, 100)
			sub, wire := &frames{in: [][]byte{untagged}}, &sink{}
			p := NewPort("tx", &sink{}, wire, ya, 1)
			p.SetVLANs([]VLAN{{Dev: sub, STag: v.STag, CTag: v.CTag}})
			require.ErrorIs(t, p.transmitFrom(sub, &p.subs[0].VLAN), net.ErrClosed)
			require.Len(t, wire.frames, 1)
			w := wire.frames[0]
			require.Equal(t, uint16(macsec.EtherType), binary.BigEndian.Uint16(w[12:]))
			require.Len(t, w, len(untagged)+v.TagLen()+ya.Overhead())
			tags := gopacketFrame(t, &v, 100)[12 : 12+v.TagLen()]
			require.False(t, bytes.Contains(w[12:], tags), "the tags appear in clear on the wire")

			got := &sink{}
			q := NewPort("rx", &sink{}, &frames{in: [][]byte{w}}, yb, 1)
			q.SetVLANs([]VLAN{{Dev: got, STag: v.STag, CTag: v.CTag}})
			require.ErrorIs(t, q.receive(), net.ErrClosed)
			require.Equal(t, [][]byte{untagged}, got.frames)
		})
	}
}

// TestTaggedForwardingAllocatesNothing: tagging, protecting, validating
// and untagging 100 000 frames each way allocates only the batches.
func TestTaggedForwardingAllocatesNothing(t *testing.T) {
	ya, yb := secyPair(t, 1, 1)
	const n = 100_000
	tx, rx := benchPorts(t, ya, yb, &qinq, n)
	allocs := testing.AllocsPerRun(1, func() {
		tx.run()
		rx.run()
	})
	require.Equal(t, n, tx.out.written)
	require.Equal(t, n, rx.out.written)
	// The batches of each direction, made once, and nothing per frame.
	require.LessOrEqual(t, allocs, 14.0, "allocations for %d frames each way", n)
}

// benchDir is one direction of a port, fed by a replay device.
type benchDir struct {
	out *replay
	run func()
}

// benchPorts makes a transmit loop that protects n 1500-octet frames
// (tagging them with v first, unless v is nil) and a receive loop that
// validates n such frames (and untags them).
func benchPorts(t testing.TB, ya, yb *macsec.SecY, v *VLAN, n int) (tx, rx benchDir) {
	return benchPortsSize(t, ya, yb, v, n, 1500)
}

// benchPortsSize is benchPorts for untagged frames of size octets.
func benchPortsSize(t testing.TB, ya, yb *macsec.SecY, v *VLAN, n, size int) (tx, rx benchDir) {
	clear := gopacketFrame(t, nil, size-42)
	txIn, wireOut, rxOut := &replay{frame: clear, left: n}, &replay{}, &replay{}
	var p, q *Port
	wireFrame := clear
	if v == nil {
		p = NewPort("tx", txIn, wireOut, ya, 1)
		tx = benchDir{wireOut, func() { p.transmit() }}
	} else {
		p = NewPort("tx", &replay{}, wireOut, ya, 1)
		p.SetVLANs([]VLAN{{Dev: txIn, STag: v.STag, CTag: v.CTag}})
		tx = benchDir{wireOut, func() { p.transmitFrom(txIn, &p.subs[0].VLAN) }}
		wireFrame = gopacketFrame(t, v, size-42)
	}
	buf := make([]byte, macsec.Headroom+len(wireFrame)+macsec.ICVLen)
	copy(buf[macsec.Headroom:], wireFrame)
	prot, err := ya.Protect(buf, macsec.Headroom, len(wireFrame))
	require.NoError(t, err)
	if v == nil {
		q = NewPort("rx", rxOut, &replay{frame: prot, left: n}, yb, 1)
	} else {
		q = NewPort("rx", &replay{}, &replay{frame: prot, left: n}, yb, 1)
		q.SetVLANs([]VLAN{{Dev: rxOut, STag: v.STag, CTag: v.CTag}})
	}
	return tx, benchDir{rxOut, func() { q.receive() }}
}

// benchVLANs are the cases of the VLAN benchmarks: the same 1500-octet
// frames untagged, through an 802.1Q and through a QinQ sub-interface.
var benchVLANs = []struct {
	name string
	v    *VLAN
}{{"untagged", nil}, {"Dot1Q", &dot1q}, {"QinQ", &qinq}}

// BenchmarkPortTransmitVLAN: tag (but for untagged), protect and send.
func BenchmarkPortTransmitVLAN(b *testing.B) {
	for _, c := range benchVLANs {
		b.Run(c.name, func(b *testing.B) {
			ya, yb := secyPair(b, 1, 1)
			tx, _ := benchPorts(b, ya, yb, c.v, b.N)
			b.SetBytes(1500)
			b.ReportAllocs()
			b.ResetTimer()
			tx.run()
			b.StopTimer()
			if tx.out.written != b.N {
				b.Fatalf("sent %d of %d", tx.out.written, b.N)
			}
		})
	}
}

// BenchmarkPortReceiveVLAN: receive, validate, untag (but for untagged)
// and deliver.
func BenchmarkPortReceiveVLAN(b *testing.B) {
	for _, c := range benchVLANs {
		b.Run(c.name, func(b *testing.B) {
			ya, yb := secyPair(b, 1, 1)
			_, rx := benchPorts(b, ya, yb, c.v, b.N)
			b.SetBytes(1500)
			b.ReportAllocs()
			b.ResetTimer()
			rx.run()
			b.StopTimer()
			if rx.out.written != b.N {
				b.Fatalf("delivered %d of %d", rx.out.written, b.N)
			}
		})
	}
}

// ----------------------------------------------------------------- scapy

// TestScapyVLANInterop: scapy (an implementation that owes nothing to
// secylab) builds the same 802.1Q and 802.1ad frames as the port tags,
// and decrypts the port's MACsec frames to exactly those tagged frames,
// with its own Dot1Q/Dot1AD dissection finding the VIDs inside.
func TestScapyVLANInterop(t *testing.T) {
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import scapy.contrib.macsec\nfrom scapy.config import conf\nassert conf.crypto_valid").CombinedOutput(); err != nil {
		t.Skipf("scapy with MACsec crypto not importable by %s (install python3-scapy): %v: %s", python, err, out)
	}
	type job struct {
		STag     uint16 `json:"stag"`
		CTag     uint16 `json:"ctag"`
		Clear    string `json:"clear"`     // the untagged frame
		Wire     string `json:"wire"`      // the port's MACsec frame
		Key      string `json:"key"`       // SAK
		SCI      string `json:"sci"`       // transmitter's
		PN       uint64 `json:"pn"`        // full PN
		SSCI     uint32 `json:"ssci"`      // XPN
		Salt     string `json:"salt"`      // XPN
		SendSCI  bool   `json:"send_sci"`  // SC bit
		Expected string `json:"expected"`  // the port's clear-side (tagged) frame
		Result   string `json:"tagged"`    // out: scapy's tagged frame
		Decrypt  string `json:"decrypted"` // out: scapy's decryption of Wire
		VIDs     []int  `json:"vids"`      // out: scapy's dissection of Decrypt
	}
	var jobs []job
	for _, v := range []VLAN{dot1q, qinq} {
		ya, _ := secyPair(t, 1, 1)
		untagged := gopacketFrame(t, nil, 200)
		sub, wire := &frames{in: [][]byte{untagged}}, &sink{}
		p := NewPort("tx", &sink{}, wire, ya, 1)
		clearSide := &capturer{}
		p.SetMirror(Clear, clearSide)
		p.SetVLANs([]VLAN{{Dev: sub, STag: v.STag, CTag: v.CTag}})
		require.ErrorIs(t, p.transmitFrom(sub, &p.subs[0].VLAN), net.ErrClosed)
		require.Len(t, wire.frames, 1)
		require.Len(t, clearSide.frames, 1)
		jobs = append(jobs, job{
			STag: v.STag, CTag: v.CTag, Clear: hex.EncodeToString(untagged), Wire: hex.EncodeToString(wire.frames[0]),
			Key: hex.EncodeToString(bytes.Repeat([]byte{1}, 32)), SCI: macsec.NewSCI(macA, 1).String(), PN: 1,
			SSCI: 1, Salt: macsec.Salt{1}.String(), SendSCI: ya.Config().IncludeSCI,
			Expected: hex.EncodeToString(clearSide.frames[0]),
		})
	}
	in, err := json.Marshal(jobs)
	require.NoError(t, err)
	cmd := exec.Command(python, "testdata/scapy_vlan.py")
	cmd.Stdin, cmd.Stderr = bytes.NewReader(in), os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err)
	var res []job
	require.NoError(t, json.Unmarshal(out, &res), "%s", out)
	require.Len(t, res, len(jobs))
	for i, r := range res {
		want := jobs[i].Expected
		require.Equal(t, want, r.Result, "scapy's tagged frame and the port's, VLAN %d/%d", r.STag, r.CTag)
		require.Equal(t, want, r.Decrypt, "scapy's decryption of the port's MACsec frame")
		vids := []int{int(r.CTag)}
		if r.STag != 0 {
			vids = []int{int(r.STag), int(r.CTag)}
		}
		require.Equal(t, vids, r.VIDs, "the VIDs scapy finds inside the secure data")
	}
}

// capturer is a Mirror that keeps copies.
type capturer struct{ frames [][]byte }

func (c *capturer) Capture(_ time.Time, f []byte) { c.frames = append(c.frames, bytes.Clone(f)) }

// BenchmarkVLANOverhead measures what tagging costs against the untagged
// path on a shared machine: it alternates short runs of 20 000 frames
// each way, and reports the ratio of the fastest tagged run to the fastest
// untagged one (1.05 is 5 % slower): against the same 1500-octet frames
// untagged ("/untagged"), and against untagged frames as long as the
// tagged ones ("/same-length": the tags' own cost, without the 4 or 8
// more octets of secure data that AES-GCM processes). The minimum of
// interleaved runs is what noise from other processes disturbs least.
func BenchmarkVLANOverhead(b *testing.B) {
	const frames = 20_000
	ya, yb := secyPair(b, 1, 1)
	cases := []struct {
		name string
		v    *VLAN
		size int
	}{{"untagged", nil, 1500}, {"Dot1Q", &dot1q, 1500}, {"QinQ", &qinq, 1500}, {"untagged-1504", nil, 1504}, {"untagged-1508", nil, 1508}}
	best := map[string]time.Duration{}
	for range b.N {
		for _, c := range cases {
			tx, rx := benchPortsSize(b, ya, yb, c.v, frames, c.size)
			for _, d := range []struct {
				dir string
				benchDir
			}{{"tx", tx}, {"rx", rx}} {
				start := time.Now()
				d.run()
				el := time.Since(start)
				if d.out.written != frames {
					b.Fatalf("%s %s: %d of %d frames", c.name, d.dir, d.out.written, frames)
				}
				if k := d.dir + "-" + c.name; best[k] == 0 || el < best[k] {
					best[k] = el
				}
			}
		}
	}
	ratio := func(a, b string) float64 { return float64(best[a]) / float64(best[b]) }
	for _, dir := range []string{"tx", "rx"} {
		b.ReportMetric(float64(best[dir+"-untagged"].Nanoseconds())/frames, dir+"-untagged-ns/frame")
		b.ReportMetric(ratio(dir+"-Dot1Q", dir+"-untagged"), dir+"-Dot1Q/untagged")
		b.ReportMetric(ratio(dir+"-QinQ", dir+"-untagged"), dir+"-QinQ/untagged")
		b.ReportMetric(ratio(dir+"-Dot1Q", dir+"-untagged-1504"), dir+"-Dot1Q/same-length")
		b.ReportMetric(ratio(dir+"-QinQ", dir+"-untagged-1508"), dir+"-QinQ/same-length")
	}
}

// FuzzReceiveVLANs: whatever arrives from the wire, a port with VLANs
// never panics, delivers each frame at most once, to the sub-interface
// of its tags (untagged) or to the port itself (untagged frames), and
// counts the rest as unknown.
func FuzzReceiveVLANs(f *testing.F) {
	f.Add(gopacketFrame(f, &dot1q, 10))
	f.Add(gopacketFrame(f, &qinq, 10))
	f.Add(gopacketFrame(f, nil, 10))
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x88, 0xa8, 0, 10})
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0x00, 0})
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) > 2000 {
			return
		}
		ctrl, a, b := &sink{}, &sink{}, &sink{}
		p := NewPort("rx", ctrl, &frames{in: [][]byte{frame}}, nil, 1)
		p.SetVLANs([]VLAN{{Dev: a, CTag: dot1q.CTag}, {Dev: b, STag: qinq.STag, CTag: qinq.CTag}})
		if err := p.receive(); !errors.Is(err, net.ErrClosed) {
			t.Fatal(err)
		}
		st := p.Stats()
		if got := len(ctrl.frames) + len(a.frames) + len(b.frames); uint64(got) != st.RxFrames || st.RxFrames+st.RxUnknownVLAN != 1 {
			t.Fatalf("delivered %d (RxFrames %d, RxUnknownVLAN %d) of 1", got, st.RxFrames, st.RxUnknownVLAN)
		}
		for _, s := range []*sink{a, b} {
			for _, g := range s.frames {
				if len(g) < 12 || !bytes.Equal(g[:12], frame[:12]) {
					t.Fatalf("addresses changed: %x from %x", g, frame)
				}
			}
		}
	})
}

// lockedSink is a sink for several writers.
type lockedSink struct {
	mu sync.Mutex
	sink
}

func (s *lockedSink) Write(frames [][]byte, off int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sink.Write(frames, off)
}

// TestTransmittersKeepPNOrder: the port's own device and two VLANs send
// at once; the PNs on the wire still rise frame by frame, as a receiver
// with replay window 0 (Azure's default in the lab) needs.
func TestTransmittersKeepPNOrder(t *testing.T) {
	ya, _ := secyPair(t, 1, 1)
	const n = 5000
	frame := gopacketFrame(t, nil, 64)
	wire := &lockedSink{}
	devs := []*replay{{frame: frame, left: n}, {frame: frame, left: n}, {frame: frame, left: n}}
	p := NewPort("tx", devs[0], wire, ya, 1)
	p.SetVLANs([]VLAN{{Dev: devs[1], CTag: 100}, {Dev: devs[2], CTag: 200}})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); p.transmit() }()
	for _, s := range p.subs {
		go func() { defer wg.Done(); p.transmitFrom(s.Dev, &s.VLAN) }()
	}
	wg.Wait()
	require.Len(t, wire.frames, 3*n)
	var last uint32
	for i, f := range wire.frames {
		pn := binary.BigEndian.Uint32(f[16:20])
		require.Greater(t, pn, last, "frame %d of the wire: PN %d after %d", i, pn, last)
		last = pn
	}
}
