package macsec_test

// Interoperability with two implementations that owe nothing to secylab:
// Wireshark's MACsec dissector (tshark, which checks the SecTAG layout but
// cannot decrypt on Debian 12) and scapy's MACsecSA (scapy.contrib.macsec,
// Debian python3-scapy, which encrypts and decrypts all four GCM suites,
// XPN included). Both tests skip when the tool is missing; .ci/run installs
// them, so in CI they run.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

// The two ends of ExpressRoute link1: the customer edge (CE, first host
// address of the /30) and the Microsoft enterprise edge (MSEE).
var (
	ceMAC   = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	mseeMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	ceIP    = net.IPv4(192, 168, 100, 129).To4()
	mseeIP  = net.IPv4(192, 168, 100, 130).To4()
	ceSCI   = macsec.NewSCI(ceMAC, macsec.PortES) // MAC SA || 0x0001: usable with ES=1 too
	mseeSCI = macsec.NewSCI(mseeMAC, macsec.PortES)
	// XPN keying: the numerically greater SCI (the MSEE's) gets SSCI 1, so
	// the CE transmits with SSCI 2 (802.1AE-2018 10.7.13).
	ceSSCI = macsec.SSCI(2)
	// An XPN salt as MKA derives it (illustration in macsec-anchors.md).
	xpnSalt = macsec.Salt{0xCE, 0x46, 0x1D, 0xFA, 0x6B, 0xA4, 0x57, 0x93, 0x86, 0x57, 0x67, 0x5B}
)

// cleartext is one frame on the controlled port and what is inside it.
type cleartext struct {
	name  string
	frame []byte
	proto layers.IPProtocol
}

// interopFrames builds realistic controlled-port frames: a ping as Windows
// sends it, a BGP TCP ACK (short length), a BFD control packet and a
// full-size UDP datagram.
func interopFrames(t testing.TB) []cleartext {
	t.Helper()
	eth := func() *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: ceMAC, DstMAC: mseeMAC, EthernetType: layers.EthernetTypeIPv4}
	}
	ip := func(p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Id: 0x1c46, Flags: layers.IPv4DontFragment, Protocol: p, SrcIP: ceIP, DstIP: mseeIP}
	}
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
		// gopacket pads Ethernet frames to 60 octets; a frame read from
		// the controlled port (a TAP) has no padding, so cut it to the
		// IPv4 total length. (tshark 4.0 would also show padding inside an
		// integrity-only frame as part of the ICV.)
		b := buf.Bytes()
		return slices.Clone(b[:14+int(binary.BigEndian.Uint16(b[16:18]))])
	}

	ping := ser(eth(), ip(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 7},
		gopacket.Payload("abcdefghijklmnopqrstuvwabcdefghi"))

	// A BGP speaker's bare TCP ACK: secure data 2+20+20 = 42 octets, below
	// 48, so the SecTAG carries a short length.
	bgpIP := ip(layers.IPProtocolTCP)
	bgpTCP := &layers.TCP{SrcPort: 179, DstPort: 50123, Seq: 0x1b2c3d4e, Ack: 0x0a0b0c0d, ACK: true, Window: 16384}
	require.NoError(t, bgpTCP.SetNetworkLayerForChecksum(bgpIP))
	ack := ser(eth(), bgpIP, bgpTCP)

	// BFD v1 control (RFC 5880/5881), state Up, 300 ms x 3 as ExpressRoute
	// runs it.
	bfdIP := ip(layers.IPProtocolUDP)
	bfdIP.TTL = 255
	bfdUDP := &layers.UDP{SrcPort: 49152, DstPort: 3784}
	require.NoError(t, bfdUDP.SetNetworkLayerForChecksum(bfdIP))
	bfd := []byte{
		0x20, 0xc0, 0x03, 0x18, // version 1, Up, detect mult 3, length 24
		0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, // my and your discriminator
		0x00, 0x04, 0x93, 0xe0, 0x00, 0x04, 0x93, 0xe0, // desired min TX, required min RX: 300 ms
		0x00, 0x00, 0x00, 0x00, // required min echo RX
	}
	bfdFrame := ser(eth(), bfdIP, bfdUDP, gopacket.Payload(bfd))

	bulkIP := ip(layers.IPProtocolUDP)
	bulkUDP := &layers.UDP{SrcPort: 40000, DstPort: 5201}
	require.NoError(t, bulkUDP.SetNetworkLayerForChecksum(bulkIP))
	data := make([]byte, 1472)
	for i := range data {
		data[i] = byte(i * 7)
	}
	bulk := ser(eth(), bulkIP, bulkUDP, gopacket.Payload(data))

	return []cleartext{
		{"icmp-echo", ping, layers.IPProtocolICMPv4},
		{"bgp-tcp-ack", ack, layers.IPProtocolTCP},
		{"bfd", bfdFrame, layers.IPProtocolUDP},
		{"udp-1500", bulk, layers.IPProtocolUDP},
	}
}

// sciMode is how the SecTAG identifies the SC.
type sciMode struct {
	name       string
	includeSCI bool // SC=1, SCI in the tag
	endStation bool // ES=1, SCI = MAC SA || 0x0001
}

var sciModes = []sciMode{
	{name: "sci", includeSCI: true},
	{name: "nosci"}, // ES=0, SC=0: ExpressRoute's "SCI state Disabled"
	{name: "es", endStation: true},
}

// interopCase is one SecY setting the tests run through.
type interopCase struct {
	suite     macsec.CipherSuite
	mode      sciMode
	integrity bool // E=0, C=0
	an        uint8
	firstPN   uint64
}

func (c interopCase) String() string {
	prot := "encrypted"
	if c.integrity {
		prot = "integrity"
	}
	return fmt.Sprintf("%s/%s/%s", c.suite, c.mode.name, prot)
}

// interopCases covers the four suites, the three SCI settings and both
// protections. XPN SAs start just below 2^33 so that their frames cross a
// 2^32 boundary: the SecTAG PN wraps to 0 and the upper half must be right.
func interopCases() []interopCase {
	var cs []interopCase
	for i, s := range macsec.Suites {
		for j, m := range sciModes {
			for _, integrity := range []bool{false, true} {
				c := interopCase{suite: s, mode: m, integrity: integrity, an: uint8(i+j) % 4, firstPN: 1000}
				if s.XPN() {
					c.firstPN = 1<<33 - 2
				}
				cs = append(cs, c)
			}
		}
	}
	return cs
}

// sak is a fixed key for a suite; other makes a different one.
func sak(s macsec.CipherSuite, other bool) []byte {
	k := make([]byte, s.KeyLen())
	for i := range k {
		k[i] = byte(0x40 + i*3 + int(s&0xff))
		if other {
			k[i] ^= 0x5a
		}
	}
	return k
}

func txKey(s macsec.CipherSuite) macsec.Key {
	return macsec.Key{SAK: sak(s, false), SSCI: ceSSCI, Salt: xpnSalt}
}

// ceSecY is the CE's SecY for a case, with its transmit SA installed.
func ceSecY(t testing.TB, c interopCase) *macsec.SecY {
	t.Helper()
	y, err := macsec.New(macsec.Config{
		Suite: c.suite, SCI: ceSCI, IncludeSCI: c.mode.includeSCI, EndStation: c.mode.endStation,
		IntegrityOnly: c.integrity, ReplayProtect: true,
	})
	require.NoError(t, err)
	require.NoError(t, y.InstallTxSA(c.an, txKey(c.suite), c.firstPN))
	require.NoError(t, y.SetEncodingSA(c.an))
	return y
}

// mseeSecY is the MSEE's SecY for a case, receiving from the CE with k.
func mseeSecY(t testing.TB, c interopCase, k macsec.Key) *macsec.SecY {
	t.Helper()
	y, err := macsec.New(macsec.Config{
		Suite: c.suite, SCI: mseeSCI, IncludeSCI: c.mode.includeSCI, EndStation: c.mode.endStation,
		IntegrityOnly: c.integrity, ReplayProtect: true, ValidateFrames: macsec.Strict,
	})
	require.NoError(t, err)
	require.NoError(t, y.AddRxSC(ceSCI))
	require.NoError(t, y.InstallRxSA(ceSCI, c.an, k, c.firstPN))
	return y
}

func protect(t testing.TB, y *macsec.SecY, frame []byte) []byte {
	t.Helper()
	buf := make([]byte, macsec.Headroom+len(frame)+macsec.ICVLen)
	copy(buf[macsec.Headroom:], frame)
	out, err := y.Protect(buf, macsec.Headroom, len(frame))
	require.NoError(t, err)
	return slices.Clone(out)
}

func validate(y *macsec.SecY, frame []byte) ([]byte, macsec.Result) {
	buf := slices.Clone(frame)
	out, r := y.Validate(buf, 0, len(buf))
	return slices.Clone(out), r
}

// ---------------------------------------------------------------- tshark

// wantTag is what secylab wrote into one frame's SecTAG.
type wantTag struct {
	c      interopCase
	frame  cleartext
	pn     uint64
	sl     int
	tcian  byte
	hasSCI bool
}

func TestTsharkDissectsMACsec(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (Debian package tshark): cannot check how Wireshark dissects secylab's frames")
	}

	var (
		frames [][]byte
		want   []wantTag
	)
	for _, c := range interopCases() {
		y := ceSecY(t, c)
		for i, ct := range interopFrames(t) {
			p := protect(t, y, ct.frame)
			tag, err := macsec.ParseSecTAG(p)
			require.NoError(t, err)
			secure := len(ct.frame) - 12
			sl := 0
			if secure < 48 {
				sl = secure
			}
			frames = append(frames, p)
			want = append(want, wantTag{c: c, frame: ct, pn: c.firstPN + uint64(i), sl: sl, tcian: p[14], hasSCI: tag.HasSCI()})
		}
	}

	path := filepath.Join(t.TempDir(), "secylab-macsec.pcap")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := pcapgo.NewWriter(f)
	require.NoError(t, w.WriteFileHeader(65535, layers.LinkTypeEthernet))
	ts := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i, p := range frames {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(p), Length: len(p)}
		require.NoError(t, w.WritePacket(ci, p))
	}
	require.NoError(t, f.Close())

	run := func(args ...string) string {
		t.Helper()
		// The same BGP ACK recurs in every case of the capture; TCP
		// sequence analysis would call it a duplicate ACK, an expert note
		// about the test's capture rather than about MACsec.
		cmd := exec.Command(tshark, append([]string{"-n", "-o", "tcp.analyze_sequence_numbers:FALSE", "-r", path}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir()) // no user preferences
		out, err := cmd.Output()
		require.NoError(t, err, "tshark %s: %s", strings.Join(args, " "), stderr.String())
		return string(out)
	}

	fields := []string{
		"frame.number", "eth.type", "macsec.TCI.V", "macsec.TCI.ES", "macsec.TCI.SC", "macsec.TCI.SCB",
		"macsec.TCI.E", "macsec.TCI.C", "macsec.AN", "macsec.SL", "macsec.PN",
		"macsec.SCI.system_identifier", "macsec.SCI.port_identifier", "macsec.etype", "macsec.ICV",
		"ip.proto", "ip.src", "frame.protocols", "_ws.malformed", "_ws.expert",
	}
	args := []string{"-T", "fields", "-E", "separator=|", "-E", "occurrence=f"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	lines := strings.Split(strings.TrimRight(run(args...), "\n"), "\n")
	require.Len(t, lines, len(want), "tshark shows one line per frame")

	bit := func(b byte) string {
		if b != 0 {
			return "1"
		}
		return "0"
	}
	for i, line := range lines {
		w := want[i]
		v := strings.Split(line, "|")
		require.Len(t, v, len(fields), line)
		got := make(map[string]string, len(fields))
		for j, f := range fields {
			got[f] = v[j]
		}
		msg := fmt.Sprintf("frame %d (%s, %s): %s", i+1, w.c, w.frame.name, line)
		require.Equal(t, strconv.Itoa(i+1), got["frame.number"], msg)
		require.Equal(t, "0x88e5", got["eth.type"], msg)
		require.True(t, strings.HasPrefix(got["frame.protocols"], "eth:ethertype:macsec"), msg)
		num := func(field string) uint64 {
			n, err := strconv.ParseUint(got[field], 0, 64) // tshark prints some as 0x00
			require.NoError(t, err, "%s: %s", field, msg)
			return n
		}
		require.Zero(t, num("macsec.TCI.V"), msg)
		require.Equal(t, bit(w.tcian&macsec.TCIES), got["macsec.TCI.ES"], msg)
		require.Equal(t, bit(w.tcian&macsec.TCISC), got["macsec.TCI.SC"], msg)
		require.Equal(t, bit(w.tcian&macsec.TCISCB), got["macsec.TCI.SCB"], msg)
		require.Equal(t, bit(w.tcian&macsec.TCIE), got["macsec.TCI.E"], msg)
		require.Equal(t, bit(w.tcian&macsec.TCIC), got["macsec.TCI.C"], msg)
		require.Equal(t, uint64(w.c.an), num("macsec.AN"), msg)
		require.Equal(t, uint64(w.sl), num("macsec.SL"), msg)
		require.Equal(t, uint64(uint32(w.pn)), num("macsec.PN"), msg)

		// What secylab was asked for, not only what it wrote.
		require.Equal(t, w.c.mode.includeSCI, w.hasSCI, msg)
		require.Equal(t, w.c.mode.endStation, w.tcian&macsec.TCIES != 0, msg)
		require.Equal(t, !w.c.integrity, w.tcian&macsec.TCIE != 0, msg)
		if w.hasSCI {
			require.Equal(t, ceMAC.String(), got["macsec.SCI.system_identifier"], msg)
			require.Equal(t, uint64(ceSCI.Port()), num("macsec.SCI.port_identifier"), msg)
		} else {
			require.Empty(t, got["macsec.SCI.system_identifier"], msg)
			require.Empty(t, got["macsec.SCI.port_identifier"], msg)
		}
		frame := frames[i]
		require.Equal(t, hex.EncodeToString(frame[len(frame)-macsec.ICVLen:]), strings.ReplaceAll(got["macsec.ICV"], ":", ""), msg)

		if w.c.integrity {
			// E=0: the secure data is the cleartext, and Wireshark
			// dissects it: inner EtherType, then the IP packet.
			require.Equal(t, "0x0800", got["macsec.etype"], msg)
			require.Equal(t, uint64(w.frame.proto), num("ip.proto"), msg)
			require.Equal(t, ceIP.String(), got["ip.src"], msg)
			require.Contains(t, got["frame.protocols"], ":ip:", msg)
		} else {
			// E=1: ciphertext, nothing beneath the SecTAG is recognisable.
			require.Empty(t, got["macsec.etype"], msg)
			require.Empty(t, got["ip.proto"], msg)
			require.NotContains(t, got["frame.protocols"], ":ip", msg)
		}
		require.Empty(t, got["_ws.malformed"], msg)
		require.Empty(t, got["_ws.expert"], msg)
	}

	// No frame is malformed or carries an expert note of any severity.
	require.Empty(t, strings.TrimSpace(run("-Y", "_ws.malformed || _ws.expert")), "frames tshark flags as malformed or with expert info")
	expert := run("-q", "-z", "expert")
	for _, sev := range []string{"Errors (", "Warnings (", "Notes ("} {
		require.NotContains(t, expert, sev, "tshark -z expert:\n%s", expert)
	}
}

// ----------------------------------------------------------------- scapy

const systemPython = "/usr/bin/python3" // Debian's python3-scapy lives in the system Python only

// scapyJob is one request to testdata/scapy_macsec.py.
type scapyJob struct {
	Op      string `json:"op"` // "encrypt" or "decrypt"
	Key     string `json:"key"`
	SCI     string `json:"sci"`
	AN      uint8  `json:"an"`
	PN      uint64 `json:"pn"` // the full packet number
	XPN     bool   `json:"xpn"`
	SSCI    uint32 `json:"ssci"`
	Salt    string `json:"salt"`
	SendSCI bool   `json:"send_sci"`
	ES      bool   `json:"es"`
	Encrypt bool   `json:"encrypt"`
	Frame   string `json:"frame"`
}

type scapyResult struct {
	Frame string `json:"frame"`
	Error string `json:"error"`
}

func scapyAvailable(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(systemPython); err != nil {
		t.Skipf("%s not found: cannot run scapy (Debian package python3-scapy)", systemPython)
	}
	check := "from scapy.config import conf\nimport scapy.contrib.macsec\nassert conf.crypto_valid, 'python3-cryptography missing'\n"
	if out, err := exec.Command(systemPython, "-c", check).CombinedOutput(); err != nil {
		t.Skipf("scapy with MACsec crypto not importable by %s (install python3-scapy): %v: %s", systemPython, err, out)
	}
}

func runScapy(t *testing.T, jobs []scapyJob) []scapyResult {
	t.Helper()
	in, err := json.Marshal(map[string]any{"jobs": jobs})
	require.NoError(t, err)
	cmd := exec.Command(systemPython, "testdata/scapy_macsec.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "scapy_macsec.py: %s", stderr.String())
	var res struct {
		Results []scapyResult `json:"results"`
	}
	require.NoError(t, json.Unmarshal(out, &res), "scapy_macsec.py output: %s", out)
	require.Len(t, res.Results, len(jobs))
	return res.Results
}

func (c interopCase) job(op string, key []byte, pn uint64, frame []byte) scapyJob {
	return scapyJob{
		Op: op, Key: hex.EncodeToString(key), SCI: ceSCI.String(), AN: c.an, PN: pn,
		XPN: c.suite.XPN(), SSCI: uint32(ceSSCI), Salt: xpnSalt.String(),
		SendSCI: c.mode.includeSCI, ES: c.mode.endStation, Encrypt: !c.integrity,
		Frame: hex.EncodeToString(frame),
	}
}

func TestScapyInterop(t *testing.T) {
	scapyAvailable(t)

	type plan struct {
		c                            interopCase
		clear                        []cleartext
		secylab                      [][]byte // protected by secylab
		toScapy, fromScapy, wrongKey []int    // job indexes
		scapyWrongKeyDecrypt         int
	}
	var (
		jobs  []scapyJob
		plans []plan
	)
	add := func(j scapyJob) int { jobs = append(jobs, j); return len(jobs) - 1 }
	for _, c := range interopCases() {
		p := plan{c: c, clear: interopFrames(t)}
		y := ceSecY(t, c)
		for i, ct := range p.clear {
			pn := c.firstPN + uint64(i)
			prot := protect(t, y, ct.frame)
			p.secylab = append(p.secylab, prot)
			// (a) secylab protects, scapy decrypts.
			p.toScapy = append(p.toScapy, add(c.job("decrypt", sak(c.suite, false), pn, prot)))
			// (b) scapy protects the same cleartext with the same PN.
			p.fromScapy = append(p.fromScapy, add(c.job("encrypt", sak(c.suite, false), pn, ct.frame)))
			// (c) scapy protects with another key.
			p.wrongKey = append(p.wrongKey, add(c.job("encrypt", sak(c.suite, true), pn, ct.frame)))
		}
		// scapy really checks the ICV: secylab's frame under another key fails.
		p.scapyWrongKeyDecrypt = add(c.job("decrypt", sak(c.suite, true), c.firstPN, p.secylab[0]))
		plans = append(plans, p)
	}

	res := runScapy(t, jobs)
	frame := func(t *testing.T, i int) []byte {
		t.Helper()
		require.Empty(t, res[i].Error, "scapy job %d (%s)", i, jobs[i].Op)
		b, err := hex.DecodeString(res[i].Frame)
		require.NoError(t, err)
		return b
	}

	for _, p := range plans {
		t.Run(p.c.String(), func(t *testing.T) {
			c := p.c
			// (a) scapy recovers secylab's cleartext exactly.
			for i, j := range p.toScapy {
				require.Equal(t, hex.EncodeToString(p.clear[i].frame), hex.EncodeToString(frame(t, j)),
					"scapy's decryption of secylab's %s frame", p.clear[i].name)
			}
			require.Contains(t, res[p.scapyWrongKeyDecrypt].Error, "InvalidTag", "scapy decrypting with the wrong key")

			// (b) secylab validates scapy's frames: OK, same cleartext.
			// GCM is deterministic, so the protected frames are the very
			// bytes secylab wrote for the same cleartext and PN.
			rx := mseeSecY(t, c, txKey(c.suite))
			for i, j := range p.fromScapy {
				got := frame(t, j)
				require.Equal(t, hex.EncodeToString(p.secylab[i]), hex.EncodeToString(got),
					"scapy and secylab protect %s with PN %#x identically", p.clear[i].name, c.firstPN+uint64(i))
				out, r := validate(rx, got)
				require.Equal(t, macsec.OK, r, "secylab validating scapy's %s frame: %s", p.clear[i].name, r)
				require.Equal(t, p.clear[i].frame, out)
			}
			st := rx.Status()
			require.Len(t, st.RxSCs, 1)
			require.Equal(t, uint64(len(p.fromScapy)), st.RxSCs[0].Stats.InPktsOK)

			// Negative: scapy's frames under another key are NotValid,
			// and the receive SA does not move.
			rx = mseeSecY(t, c, txKey(c.suite))
			for _, j := range p.wrongKey {
				out, r := validate(rx, frame(t, j))
				require.Equal(t, macsec.NotValid, r, "secylab validating a frame scapy protected with another key")
				require.Nil(t, out)
			}
			next, ok := rx.RxSANextPN(ceSCI, c.an)
			require.True(t, ok)
			require.Equal(t, c.firstPN, next)
			require.Equal(t, uint64(len(p.wrongKey)), rx.Status().RxSCs[0].Stats.InPktsNotValid)
		})
	}
}
