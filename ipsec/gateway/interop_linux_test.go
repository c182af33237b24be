package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/internal/offload"
)

// writePcap writes Ethernet frames to a classic pcap file.
func writePcap(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // LINKTYPE_ETHERNET
	b.Write(hdr)
	now := time.Now()
	for i, f := range frames {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(now.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(i))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(f)))
		b.Write(rec)
		b.Write(f)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ipFrames keeps the IPv4 frames (no ARP).
func ipFrames(fs [][]byte) [][]byte {
	var out [][]byte
	for _, f := range fs {
		if len(f) > 14 && binary.BigEndian.Uint16(f[12:]) == 0x0800 {
			out = append(out, f)
		}
	}
	return out
}

// interopTraffic runs pings and a TCP transfer through the lab and
// returns the ESP frames on the wire (both directions) and the inner
// packets each gateway delivered: A→B at B, B→A at A.
func interopTraffic(t *testing.T, l *lab) (wire [][]byte, delivered map[uint32][][]byte) {
	wanB, wanA := captureWire(t, l.nsB, "wan"), captureWire(t, l.nsA, "wan")
	tunB, tunA := capture(t, l.nsB, "ipsec0"), capture(t, l.nsA, "ipsec0")
	if err := nettest.Ping(l.nsA, hostB.String(), 3); err != nil {
		t.Fatal(err)
	}
	transfer(t, l, 64<<10)
	wire = append(ipFrames(wanB()), ipFrames(wanA())...)
	return wire, map[uint32][][]byte{0x1001: tunB(), 0x2002: tunA()}
}

// compareInner checks that the decrypted inner packets of each SPI are,
// in order, the packets the tunnel delivered. A TUN with offloads gets
// in-order TCP segments coalesced into super-packets: such a delivered
// packet must be exactly the coalescing of the next decrypted packets.
func compareInner(t *testing.T, decrypted, delivered map[uint32][][]byte) {
	t.Helper()
	for spi, want := range delivered {
		got := decrypted[spi]
		if len(want) == 0 {
			t.Fatalf("SPI %#x: nothing delivered", spi)
		}
		i, supers := 0, 0
		for k, d := range want {
			if i >= len(got) {
				t.Fatalf("SPI %#x: %d packets decrypted, more delivered", spi, len(got))
			}
			if bytes.Equal(got[i], d) {
				i++
				continue
			}
			n, ok := coalescedFrom(got[i:], d)
			if !ok {
				t.Fatalf("SPI %#x delivered packet %d (decrypted %d):\ndecrypted %x\ndelivered %x", spi, k, i, got[i], d)
			}
			i += n
			supers++
		}
		if i != len(got) {
			t.Fatalf("SPI %#x: %d packets decrypted, %d delivered", spi, len(got), i)
		}
		t.Logf("SPI %#x: %d inner packets decrypted by the oracle equal those delivered (%d packets, %d of them coalesced)", spi, len(got), len(want), supers)
	}
}

// coalescedFrom reports whether d is the super-packet made of the first n
// (more than one) of pkts, as the TUN offload writes it.
func coalescedFrom(pkts [][]byte, d []byte) (int, bool) {
	run, fs, _, valid := offload.GRORun(pkts, offload.LinkIP, true)
	if run < 2 || !valid {
		return 0, false
	}
	payload := 0
	for n := 1; n <= run; n++ {
		payload += len(pkts[n-1]) - fs.HdrLen()
		if n < 2 || fs.HdrLen()+payload != len(d) {
			continue
		}
		hdr := make([]byte, offload.MaxGROHeader)
		hl := offload.GROHeader(hdr, pkts[:n], fs, payload)
		sf := bytes.Clone(hdr[offload.VirtioNetHdrLen:hl])
		for _, p := range pkts[:n] {
			sf = append(sf, p[fs.HdrLen():]...)
		}
		return n, bytes.Equal(sf, d)
	}
	return 0, false
}

// trimIP cuts TFC padding off an inner packet using its IP length.
func trimIP(p []byte) []byte {
	if len(p) >= 20 && p[0]>>4 == 4 {
		if l := int(binary.BigEndian.Uint16(p[2:])); l <= len(p) {
			return p[:l]
		}
	}
	return p
}

func TestInteropTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark): cannot check captures with Wireshark's ESP")
	}
	l := newLab(t, false, nil)
	wire, delivered := interopTraffic(t, l)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "tunnel.pcap")
	writePcap(t, pcap, wire)
	row := func(src, dst netip.Addr, spi uint32, key []byte) string {
		return fmt.Sprintf(`uat:esp_sa:"IPv4","%v","%v","0x%08x","AES-GCM with 16 octet ICV [RFC4106]","0x%x","NULL",""`, src, dst, spi, key)
	}
	cmd := exec.Command(tshark, "-r", pcap,
		"-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE",
		"-o", row(outerA, outerB, 0x1001, l.k1), "-o", row(outerB, outerA, 0x2002, l.k2),
		"-Y", "esp", "-T", "fields", "-e", "esp.spi", "-e", "esp.sequence", "-e", "esp.icv_good", "-e", "esp.decrypted_data")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+dir, "HOME="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	decrypted := map[uint32][][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 4 || f[2] != "1" {
			t.Fatalf("tshark did not verify the ICV: %.200q", sc.Text())
		}
		spi, _ := strconv.ParseUint(strings.TrimPrefix(f[0], "0x"), 16, 32)
		pt, err := hex.DecodeString(f[3])
		if err != nil || len(pt) < 2 || int(pt[len(pt)-2])+2 > len(pt) {
			t.Fatalf("decrypted data %q", f[3])
		}
		decrypted[uint32(spi)] = append(decrypted[uint32(spi)], trimIP(pt[:len(pt)-2-int(pt[len(pt)-2])]))
		n++
	}
	if n != len(wire) {
		t.Fatalf("tshark decrypted %d of %d ESP packets", n, len(wire))
	}
	compareInner(t, decrypted, delivered)
}

func TestInteropScapyESN(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import scapy.layers.ipsec").Run(); err != nil {
		t.Skip("python3-scapy not installed (apt-get install python3-scapy): cannot check ESN captures")
	}
	initial := uint64(1<<32 - 4) // the high half moves to 1 during the test
	l := newLabSN(t, true, nil, initial)
	wire, delivered := interopTraffic(t, l)
	pcap := filepath.Join(t.TempDir(), "tunnel.pcap")
	writePcap(t, pcap, wire)
	out, err := exec.Command(py, "testdata/scapy_esp.py", pcap,
		fmt.Sprintf("1001:%x:%d", l.k1, initial), fmt.Sprintf("2002:%x:%d", l.k2, initial)).CombinedOutput()
	if err != nil {
		t.Fatalf("scapy: %v\n%s", err, out)
	}
	decrypted := map[uint32][][]byte{}
	crossed := 0
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) != 4 || f[2] != "1" {
			t.Fatalf("scapy did not verify: %q", line)
		}
		spi, _ := strconv.ParseUint(f[0], 16, 32)
		if seql, _ := strconv.ParseUint(f[1], 10, 32); seql < 1<<31 {
			crossed++
		}
		inner, _ := hex.DecodeString(f[3])
		decrypted[uint32(spi)] = append(decrypted[uint32(spi)], inner)
	}
	if crossed == 0 {
		t.Fatal("no packet past 2^32 in the capture")
	}
	compareInner(t, decrypted, delivered)
}
