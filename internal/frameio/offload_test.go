package frameio

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/internal/offload"
)

// Header values the tests build frames with.
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86DD
	ipProtoTCP    = 6
	ipProtoUDP    = 17
	tcpFlagFIN    = 0x01
	tcpFlagPSH    = 0x08
	tcpFlagACK    = 0x10
	tcpFlagCWR    = 0x80
)

// refSum is RFC 1071 done the slow, obvious way, to check ChecksumAdd and
// every checksum the offload code writes.
func refSum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func refPseudo(src, dst []byte, proto uint8, n int) uint32 {
	return uint32(refSum(src, 0)) + uint32(refSum(dst, 0)) + uint32(proto) + uint32(n)
}

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(3000))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if r.IntN(4) == 0 {
			for i := range b {
				b[i] = 0xff // many carries
			}
		}
		require.Equal(t, refSum(b, 0), offload.ChecksumFold(offload.ChecksumAdd(b, 0)), "len %d", len(b))
	}
}

// flow builds the frames of one TCP connection with the test's own
// header and checksum code.
type flow struct {
	v6           bool
	sport, dport uint16
	ack          uint32
	ttl, tos     uint8
	opts         []byte // TCP options, a multiple of 4 octets
	src, dst     []byte // MACs
}

func v4flow() flow {
	return flow{sport: 40000, dport: 5201, ack: 777, ttl: 64, opts: tsOpt(1), src: macA, dst: macB}
}

func v6flow() flow {
	f := v4flow()
	f.v6 = true
	return f
}

// tsOpt is NOP NOP timestamps, as Linux sends them.
func tsOpt(tsval uint32) []byte {
	o := []byte{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 9}
	binary.BigEndian.PutUint32(o[4:], tsval)
	return o
}

func (fl flow) addrs() (src, dst []byte) {
	if fl.v6 {
		return []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			[]byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}
	}
	return []byte{192, 168, 100, 129}, []byte{192, 168, 100, 130}
}

// headers writes Ethernet, IP and TCP headers for a segment carrying n
// octets; the TCP checksum is left zero.
func (fl flow) headers(seq uint32, id uint16, flags uint8, n int) []byte {
	thl := 20 + len(fl.opts)
	var f []byte
	f = append(f, fl.dst...)
	f = append(f, fl.src...)
	src, dst := fl.addrs()
	if fl.v6 {
		f = binary.BigEndian.AppendUint16(f, etherTypeIPv6)
		f = append(f, 0x60|fl.tos>>4, fl.tos<<4, 0, 0)
		f = binary.BigEndian.AppendUint16(f, uint16(thl+n))
		f = append(f, ipProtoTCP, fl.ttl)
		f = append(f, src...)
		f = append(f, dst...)
	} else {
		f = binary.BigEndian.AppendUint16(f, etherTypeIPv4)
		f = append(f, 0x45, fl.tos)
		f = binary.BigEndian.AppendUint16(f, uint16(20+thl+n))
		f = binary.BigEndian.AppendUint16(f, id)
		f = append(f, 0x40, 0, fl.ttl, ipProtoTCP, 0, 0) // DF
		f = append(f, src...)
		f = append(f, dst...)
		binary.BigEndian.PutUint16(f[24:], ^refSum(f[14:34], 0))
	}
	f = binary.BigEndian.AppendUint16(f, fl.sport)
	f = binary.BigEndian.AppendUint16(f, fl.dport)
	f = binary.BigEndian.AppendUint32(f, seq)
	f = binary.BigEndian.AppendUint32(f, fl.ack)
	f = append(f, byte(thl/4)<<4, flags, 0xfa, 0xf0, 0, 0, 0, 0)
	return append(f, fl.opts...)
}

func (fl flow) l4() int {
	if fl.v6 {
		return 14 + 40
	}
	return 14 + 20
}

// segment is a complete frame with correct checksums.
func (fl flow) segment(seq uint32, id uint16, flags uint8, payload []byte) []byte {
	f := append(fl.headers(seq, id, flags, len(payload)), payload...)
	src, dst := fl.addrs()
	tcp := f[fl.l4():]
	binary.BigEndian.PutUint16(tcp[16:], ^refSum(tcp, refPseudo(src, dst, ipProtoTCP, len(tcp))))
	return f
}

// superFrame is what a TAP with TSO hands over: one frame with the whole
// payload, the pseudo-header sum in the TCP checksum, and its header.
func (fl flow) superFrame(seq uint32, id uint16, flags uint8, payload []byte, mss int) ([]byte, offload.VirtioNetHdr) {
	f := append(fl.headers(seq, id, flags, len(payload)), payload...)
	src, dst := fl.addrs()
	tcp := f[fl.l4():]
	binary.BigEndian.PutUint16(tcp[16:], refSum(nil, refPseudo(src, dst, ipProtoTCP, len(tcp))))
	h := offload.VirtioNetHdr{
		Flags: offload.FlagNeedsCsum, GSOType: offload.GSOTCPv4,
		HdrLen: uint16(fl.l4() + 20 + len(fl.opts)), GSOSize: uint16(mss),
		CsumStart: uint16(fl.l4()), CsumOffset: 16,
	}
	if fl.v6 {
		h.GSOType = offload.GSOTCPv6
	}
	return f, h
}

// segments is what the kernel's segmentation makes of superFrame.
func (fl flow) segments(seq uint32, id uint16, flags uint8, payload []byte, mss int) [][]byte {
	var out [][]byte
	for k := 0; k*mss < len(payload) || k == 0; k++ {
		fk := flags
		if k > 0 {
			fk &^= tcpFlagCWR
		}
		if (k+1)*mss < len(payload) {
			fk &^= tcpFlagFIN | tcpFlagPSH
		}
		chunk := payload[k*mss : min((k+1)*mss, len(payload))]
		out = append(out, fl.segment(seq+uint32(k*mss), id+uint16(k), fk, chunk))
	}
	return out
}

// checkFrame verifies the IPv4 header and TCP checksums independently.
func checkFrame(t *testing.T, f []byte) {
	t.Helper()
	l3, et := offload.L3Offset(f, offload.LinkEthernet)
	var src, dst []byte
	var l4, end int
	if et == etherTypeIPv4 {
		l4 = l3 + int(f[l3]&0xf)*4
		require.Equal(t, uint16(0xffff), refSum(f[l3:l4], 0), "IPv4 header checksum")
		end = l3 + int(binary.BigEndian.Uint16(f[l3+2:]))
		src, dst = f[l3+12:l3+16], f[l3+16:l3+20]
	} else {
		l4 = l3 + 40
		end = l4 + int(binary.BigEndian.Uint16(f[l3+4:]))
		src, dst = f[l3+8:l3+24], f[l3+24:l3+40]
	}
	require.Equal(t, len(f), end, "IP length")
	require.Equal(t, uint16(0xffff), refSum(f[l4:], refPseudo(src, dst, ipProtoTCP, end-l4)), "TCP checksum")
}

func payload(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7) ^ seed
	}
	return p
}

func TestGSOSegment(t *testing.T) {
	for _, fl := range []flow{v4flow(), v6flow()} {
		name := map[bool]string{false: "IPv4", true: "IPv6"}[fl.v6]
		t.Run(name, func(t *testing.T) {
			hl := fl.l4() + 20 + len(fl.opts)
			n := 65535 - (hl - 14) // the largest super-frame
			if fl.v6 {
				n += 40
			}
			data := payload(n, 3)
			const mss, seq, id = 1448, 0xfffff000, 0xfff0 // both wrap
			flags := uint8(tcpFlagACK | tcpFlagPSH | tcpFlagFIN | tcpFlagCWR)
			sf, h := fl.superFrame(seq, id, flags, data, mss)
			var g offload.GSO
			require.NoError(t, g.Init(sf, &h, offload.LinkEthernet))
			want := fl.segments(seq, id, flags, data, mss)
			require.Len(t, want, (n+mss-1)/mss)
			buf := make([]byte, 16+2000)
			for k, w := range want {
				require.True(t, g.Pending())
				m := g.Cut(buf[16:])
				got := buf[16 : 16+m]
				checkFrame(t, got)
				require.Equal(t, w, got, "segment %d", k)
				tcp := got[fl.l4():]
				require.Equal(t, uint32(seq+k*mss), binary.BigEndian.Uint32(tcp[4:]))
				require.Equal(t, k == 0, tcp[13]&tcpFlagCWR != 0, "CWR on the first only")
				require.Equal(t, k == len(want)-1, tcp[13]&tcpFlagFIN != 0, "FIN on the last only")
				require.Equal(t, k == len(want)-1, tcp[13]&tcpFlagPSH != 0, "PSH on the last only")
			}
			require.False(t, g.Pending())
		})
	}
}

func TestGSORejectsMalformed(t *testing.T) {
	fl := v4flow()
	sf, h := fl.superFrame(1, 1, tcpFlagACK, payload(5000, 1), 1448)
	for name, mut := range map[string]func(f []byte, h *offload.VirtioNetHdr){
		"UDP type":       func(f []byte, h *offload.VirtioNetHdr) { h.GSOType = offload.GSOUDP },
		"v6 type":        func(f []byte, h *offload.VirtioNetHdr) { h.GSOType = offload.GSOTCPv6 },
		"zero gso_size":  func(f []byte, h *offload.VirtioNetHdr) { h.GSOSize = 0 },
		"csum_start":     func(f []byte, h *offload.VirtioNetHdr) { h.CsumStart++ },
		"not TCP":        func(f []byte, h *offload.VirtioNetHdr) { f[14+9] = ipProtoUDP },
		"short TCP hdr":  func(f []byte, h *offload.VirtioNetHdr) { f[34+12] = 4 << 4 },
		"huge IPv4 hdr":  func(f []byte, h *offload.VirtioNetHdr) { f[14] = 0x4f },
		"ARP ethertype":  func(f []byte, h *offload.VirtioNetHdr) { f[12], f[13] = 8, 6 },
		"IP version bad": func(f []byte, h *offload.VirtioNetHdr) { f[14] = 0x65 },
	} {
		f, hh := bytes.Clone(sf), h
		mut(f, &hh)
		var g offload.GSO
		require.ErrorIs(t, g.Init(f, &hh, offload.LinkEthernet), offload.ErrBadGSO, name)
	}
	var g offload.GSO
	require.ErrorIs(t, g.Init(sf[:40], &h, offload.LinkEthernet), offload.ErrBadGSO, "truncated")
}

func TestCompleteChecksum(t *testing.T) {
	for _, fl := range []flow{v4flow(), v6flow()} {
		want := fl.segment(9, 9, tcpFlagACK|tcpFlagPSH, payload(333, 9))
		f, h := fl.superFrame(9, 9, tcpFlagACK|tcpFlagPSH, payload(333, 9), 1448)
		h.GSOType = offload.GSONone
		require.NoError(t, offload.CompleteChecksum(f, &h))
		require.Equal(t, want, f)
	}
}

// runs is how groRun splits frames, as run lengths.
func runs(frames [][]byte) []int {
	var out []int
	for len(frames) > 0 {
		n, _, _, _ := offload.GRORun(frames, offload.LinkEthernet, true)
		out = append(out, n)
		frames = frames[n:]
	}
	return out
}

func TestGROCoalescesAndRoundTrips(t *testing.T) {
	for _, fl := range []flow{v4flow(), v6flow()} {
		data := payload(40*1448+100, 5) // 41 segments, the last short
		segs := fl.segments(1000, 50, tcpFlagACK|tcpFlagPSH, data, 1448)
		n, fs, total, valid := offload.GRORun(segs, offload.LinkEthernet, true)
		require.True(t, valid)
		require.Equal(t, len(segs), n)
		require.Equal(t, len(data), total)
		hdr := make([]byte, 200)
		hl := offload.GROHeader(hdr, segs, fs, total)
		var h offload.VirtioNetHdr
		h.Decode(hdr)
		sf := append(bytes.Clone(hdr[offload.VirtioNetHdrLen:hl]), data...)
		wantSF, wantH := fl.superFrame(1000, 50, tcpFlagACK|tcpFlagPSH, data, 1448)
		require.Equal(t, wantH, h)
		require.Equal(t, wantSF, sf, "the super-frame a TSO stack would have sent")
		// And back.
		var g offload.GSO
		require.NoError(t, g.Init(sf, &h, offload.LinkEthernet))
		buf := make([]byte, 2000)
		for k := 0; g.Pending(); k++ {
			m := g.Cut(buf)
			require.Equal(t, segs[k], buf[:m])
		}
	}
}

func TestGROEdgeCases(t *testing.T) {
	fl := v4flow()
	const mss = 1000
	seg := func(fl flow, k int, flags uint8) []byte {
		return fl.segment(uint32(k*mss), uint16(k), flags, payload(mss, byte(k)))
	}
	ack := uint8(tcpFlagACK)
	other := fl
	other.sport++
	ttl := fl
	ttl.ttl--
	ts := fl
	ts.opts = tsOpt(2)
	acked := fl
	acked.ack++
	short := fl.segment(2*mss, 2, ack, payload(10, 2))
	badSum := seg(fl, 2, ack)
	badSum[len(badSum)-1] ^= 1
	arp := nettest.EthFrame(macB, macA, 0x0806, 28, 1)
	for _, tc := range []struct {
		name   string
		frames [][]byte
		want   []int
	}{
		{"in order", [][]byte{seg(fl, 0, ack), seg(fl, 1, ack), seg(fl, 2, ack), seg(fl, 3, ack)}, []int{4}},
		{"out of order", [][]byte{seg(fl, 0, ack), seg(fl, 2, ack), seg(fl, 1, ack), seg(fl, 3, ack)}, []int{1, 1, 1, 1}},
		{"retransmission", [][]byte{seg(fl, 0, ack), seg(fl, 1, ack), seg(fl, 1, ack)}, []int{2, 1}},
		{"two flows", [][]byte{seg(fl, 0, ack), seg(other, 1, ack), seg(fl, 1, ack)}, []int{1, 1, 1}},
		{"PSH in the middle", [][]byte{seg(fl, 0, ack), seg(fl, 1, ack|tcpFlagPSH), seg(fl, 2, ack)}, []int{2, 1}},
		{"FIN", [][]byte{seg(fl, 0, ack), seg(fl, 1, ack|tcpFlagFIN), seg(fl, 2, ack)}, []int{1, 1, 1}},
		{"CWR", [][]byte{seg(fl, 0, ack|tcpFlagCWR), seg(fl, 1, ack)}, []int{1, 1}},
		{"options differ", [][]byte{seg(fl, 0, ack), seg(ts, 1, ack), seg(ts, 2, ack)}, []int{1, 2}},
		{"TTL differs", [][]byte{seg(fl, 0, ack), seg(ttl, 1, ack)}, []int{1, 1}},
		{"ack differs", [][]byte{seg(fl, 0, ack), seg(acked, 1, ack)}, []int{1, 1}},
		{"short segment ends a run", [][]byte{seg(fl, 0, ack), seg(fl, 1, ack), short, seg(fl, 3, ack)}, []int{3, 1}},
		{"non-TCP between", [][]byte{seg(fl, 0, ack), arp, seg(fl, 1, ack)}, []int{1, 1, 1}},
		{"bad checksum", [][]byte{seg(fl, 0, ack), seg(fl, 1, ack), badSum, seg(fl, 3, ack)}, []int{2, 1, 1}},
		{"pure ACKs", [][]byte{fl.segment(0, 0, ack, nil), fl.segment(0, 1, ack, nil)}, []int{1, 1}},
		{"SYN", [][]byte{fl.segment(0, 0, 0x02, payload(mss, 0)), seg(fl, 1, ack)}, []int{1, 1}},
	} {
		require.Equal(t, tc.want, runs(tc.frames), tc.name)
	}

	// A run stops below 64 KiB of IP packet and at offload.MaxGROSegs.
	var big [][]byte
	for k := range 70 {
		big = append(big, fl.segment(uint32(k*1448), uint16(k), ack, payload(1448, byte(k))))
	}
	hl := 20 + 20 + len(fl.opts)
	perRun := (offload.MaxGROLen - hl) / 1448
	require.Equal(t, []int{perRun, 70 - perRun}, runs(big))
	var tiny [][]byte
	for k := range 70 {
		tiny = append(tiny, fl.segment(uint32(k), uint16(k), ack, []byte{byte(k)}))
	}
	require.Equal(t, []int{offload.MaxGROSegs, 70 - offload.MaxGROSegs}, runs(tiny))
}

// maxFuzzInput bounds the fuzz inputs of the offload targets. The fuzzer
// minimizes every input that finds new coverage, for up to
// -fuzzminimizetime (60 s by default), in runs that its exec count leaves
// out, and a minimization costs about the square of the input's length: a
// few kilobytes made a 60 s run nearly all minimization (FuzzGRO reported
// 8 execs). Longer inputs add nothing: segments and runs are as well
// exercised by a few hundred octets, and the unit tests cover the limits.
const maxFuzzInput = 1024

// FuzzGSO feeds arbitrary super-frames and virtio headers to the
// segmenter and checksum completion: no panic, and segments stay within
// the buffer.
func FuzzGSO(f *testing.F) {
	for _, fl := range []flow{v4flow(), v6flow()} {
		// Seeds well under maxFuzzInput.
		sf, h := fl.superFrame(1, 2, tcpFlagACK|tcpFlagPSH, payload(600, 1), 200)
		hb := make([]byte, offload.VirtioNetHdrLen)
		h.Encode(hb)
		f.Add(append(hb, sf...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < offload.VirtioNetHdrLen || len(data) > maxFuzzInput {
			return
		}
		var h offload.VirtioNetHdr
		h.Decode(data)
		pkt := data[offload.VirtioNetHdrLen:]
		if h.GSOType == offload.GSONone {
			if h.Flags&offload.FlagNeedsCsum != 0 {
				offload.CompleteChecksum(pkt, &h)
			}
			offload.L4ChecksumOK(pkt, offload.LinkEthernet)
			return
		}
		var g offload.GSO
		if g.Init(pkt, &h, offload.LinkEthernet) != nil {
			return
		}
		buf := make([]byte, 1600)
		for i := 0; g.Pending(); i++ {
			if m := g.Cut(buf); m > 0 {
				offload.L4ChecksumOK(buf[:m], offload.LinkEthernet)
			}
			if i > 70000 {
				t.Fatal("no end of segments")
			}
		}
	})
}

// FuzzGRO feeds arbitrary frame sequences to the coalescer: no panic, and
// a run's header says the length of what it carries.
func FuzzGRO(f *testing.F) {
	fl := v4flow()
	var seed []byte
	// A seed well under maxFuzzInput.
	for _, s := range fl.segments(0, 0, tcpFlagACK|tcpFlagPSH, payload(300, 1), 100) {
		seed = binary.BigEndian.AppendUint16(seed, uint16(len(s)))
		seed = append(seed, s...)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		var frames [][]byte
		for len(data) >= 2 {
			n := min(int(binary.BigEndian.Uint16(data)), len(data)-2)
			frames = append(frames, data[2:2+n])
			data = data[2+n:]
		}
		hdr := make([]byte, offload.VirtioNetHdrLen+14+60+60)
		for len(frames) > 0 {
			n, fs, total, _ := offload.GRORun(frames, offload.LinkEthernet, true)
			if n < 1 || n > len(frames) {
				t.Fatalf("run of %d of %d frames", n, len(frames))
			}
			if n > 1 {
				sum := 0
				for _, f := range frames[:n] {
					sum += len(f) - fs.HdrLen()
				}
				if sum != total {
					t.Fatalf("run payload %d, frames carry %d", total, sum)
				}
				hl := offload.GROHeader(hdr, frames[:n], fs, total)
				var h offload.VirtioNetHdr
				h.Decode(hdr)
				var g offload.GSO
				if err := g.Init(append(bytes.Clone(hdr[offload.VirtioNetHdrLen:hl]), make([]byte, total)...), &h, offload.LinkEthernet); err != nil {
					t.Fatalf("coalesced header does not segment: %v", err)
				}
			}
			frames = frames[n:]
		}
	})
}
