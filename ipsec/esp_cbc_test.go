package ipsec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// RFC 3602 §4 cases 5 and 6: ESP packets with AES-CBC-128 and no
// integrity. With an HMAC the packet is the same up to the ICV, which
// follows it: Seal with the case's IV reproduces the case's octets, and
// Open takes them back.
func TestRFC3602(t *testing.T) {
	key := mustHex(t, "90d382b410eeba7ad938c46cec1a82bf")
	for _, c := range []struct {
		name        string
		sn          uint64
		iv, payload string
		esp         string
	}{
		{"case 5", 1, "e96e8c08ab465763fd098d45dd3ff893",
			"08000ebda70a00008e9c083db95b070008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
			"0000432100000001e96e8c08ab465763fd098d45dd3ff893f663c25d325c18c6a9453e194e120849a4870b66cc6b9965330013b4898dc856a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c538ab50c551b874aa269add047ad2d5913ac19b7cfbad4a6"},
		{"case 6", 8, "69d08df7d203329db093fc4924e5bd80",
			"0800b5e8a80a0500a69c083d0b660e00777777777777777777777777",
			"000043210000000869d08df7d203329db093fc4924e5bd80f51995881ec4e0c4488987ce742e8109689bb379d2d750c0d915dca346a89f75"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := SAConfig{SPI: 0x4321, Src: gwA, Dst: gwB, Dir: DirOut, KEYMAT: key, AuthKey: keymat(32), Cipher: AESCBCHMACSHA256}
			out, err := newSA(cfg)
			if err != nil {
				t.Fatal(err)
			}
			payload := mustHex(t, c.payload)
			buf := make([]byte, Headroom+len(payload)+Tailroom)
			copy(buf[Headroom:], payload)
			pad := (16 - (len(payload)+2)%16) % 16
			got, err := out.seal(buf, Headroom, len(payload), 1, c.sn, mustHex(t, c.iv), pad)
			if err != nil {
				t.Fatal(err)
			}
			want := mustHex(t, c.esp)
			if !bytes.Equal(got[:len(got)-16], want) {
				t.Fatalf("sealed\n got %x\nwant %x", got[:len(got)-16], want)
			}
			cfg.Dir, cfg.ReplayWindow = DirIn, 64
			in, err := newSA(cfg)
			if err != nil {
				t.Fatal(err)
			}
			pl, nh, r := in.OpenPayload(append(make([]byte, Headroom), got...), Headroom, len(got))
			if r != OK || nh != 1 || !bytes.Equal(pl, payload) {
				t.Fatalf("open: %v nh %d %x", r, nh, pl)
			}
		})
	}
}

// strongSwan's ESP: the pings of testdata/strongswan-kat.json (ipsec/ike's
// live exchanges with strongSwan 5.9.8 kernel-libipsec), keyed with the
// Child SA keys charon logged. Every packet opens to the ping charon sent,
// and Seal with the packet's IV gives back charon's packet octet for
// octet (charon pads as RFC 4303 §2.4 says, 1, 2, 3...).
func TestStrongSwanESP(t *testing.T) {
	b, err := os.ReadFile("ike/testdata/strongswan-kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var runs []struct {
		Name                 string
		ESPProposals         string `json:"esp_proposals"`
		EncrI                string `json:"child_encr_i"`
		EncrR                string `json:"child_encr_r"`
		IntegI               string `json:"child_integ_i"`
		IntegR               string `json:"child_integ_r"`
		SPIi                 string `json:"child_spi_i"`
		SPIr                 string `json:"child_spi_r"`
		Initiator, Responder string
		ESP                  []struct{ From, ESP string }
	}
	if err := json.Unmarshal(b, &runs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, run := range runs {
		c := AESGCM16
		switch {
		case strings.Contains(run.ESPProposals, "sha256"):
			c = AESCBCHMACSHA256
		case strings.Contains(run.ESPProposals, "sha1"):
			c = AESCBCHMACSHA1
		}
		for _, p := range run.ESP {
			esp := mustHex(t, p.ESP)
			// From the initiator: the responder's inbound SA, keyed with
			// the initiator's keys; and the other way.
			spi, encr, integ, src, dst := run.SPIr, run.EncrI, run.IntegI, run.Initiator, run.Responder
			if p.From == "responder" {
				spi, encr, integ, src, dst = run.SPIi, run.EncrR, run.IntegR, run.Responder, run.Initiator
			}
			spiN, _ := hex.DecodeString(spi)
			cfg := SAConfig{SPI: binary.BigEndian.Uint32(spiN), Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
				Dir: DirIn, KEYMAT: mustHex(t, encr), AuthKey: mustHex(t, integ), Cipher: c, ReplayWindow: 64}
			in, err := NewSA(cfg)
			if err != nil {
				t.Fatalf("%s: %v", run.Name, err)
			}
			buf := append(make([]byte, Headroom), esp...)
			inner, r := in.Open(buf, Headroom, len(esp))
			if r != OK || len(inner) < 20 || inner[9] != 1 || netip.AddrFrom4([4]byte(inner[12:16])) != netip.MustParseAddr(map[string]string{"initiator": "172.31.1.1", "responder": "172.31.2.1"}[p.From]) {
				t.Fatalf("%s %s: %v %x", run.Name, c, r, inner)
			}
			inner = bytes.Clone(inner)
			if c == AESGCM16 {
				n++
				continue
			}
			cfg.Dir, cfg.ReplayWindow = DirOut, 0
			sn := uint64(binary.BigEndian.Uint32(esp[4:]))
			cfg.InitialSN = sn - 1
			out, err := NewSA(cfg)
			if err != nil {
				t.Fatal(err)
			}
			sbuf := make([]byte, Headroom+len(inner)+Tailroom)
			copy(sbuf[Headroom:], inner)
			got, err := out.seal(sbuf, Headroom, len(inner), NextHeaderIPv4, sn, esp[HeaderLen:HeaderLen+CBCIVLen], (16-(len(inner)+2)%16)%16)
			if err != nil || !bytes.Equal(got, esp) {
				t.Fatalf("%s %s: re-sealed\n got %x\nwant %x (%v)", run.Name, c, got, esp, err)
			}
			n++
		}
	}
	if n < 12 {
		t.Fatalf("only %d strongSwan ESP packets", n)
	}
}

// AES-CBC SAs: round trips with and without ESN, any changed octet
// refused, the replay window, wrong keys, and refused configurations.
func TestCBC(t *testing.T) {
	for _, c := range []Cipher{AESCBCHMACSHA1, AESCBCHMACSHA256} {
		for _, esn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/esn=%v", c, esn), func(t *testing.T) {
				initial := uint64(0)
				if esn {
					initial = 1<<32 - 2 // across the 2^32 boundary
				}
				out, in := cipherPair(t, c, 16, esn, 64, initial)
				for _, n := range []int{20, 21, 1400} {
					p := ipv4(max(n, 28), 1)[:n]
					if n < 28 {
						binary.BigEndian.PutUint16(p[2:], uint16(n))
					}
					esp := seal(t, out, p, NextHeaderIPv4)
					if (len(esp)-HeaderLen-CBCIVLen-c.icvLen())%16 != 0 {
						t.Fatalf("ciphertext of %d octets", len(esp))
					}
					got, r := open(in, esp)
					if r != OK || !bytes.Equal(got, p) {
						t.Fatalf("round trip of %d: %v", n, r)
					}
					if _, r := open(in, esp); r != ReplayDuplicate {
						t.Errorf("replayed: %v", r)
					}
					for i := 0; i < len(esp); i += 7 {
						bad := bytes.Clone(esp)
						bad[i] ^= 0x10
						if _, r := open(in, bad); r == OK {
							t.Fatalf("octet %d changed, accepted", i)
						}
					}
				}
				// Two packets with the same payload differ (the IV moves).
				p := ipv4(100, 1)
				if bytes.Equal(seal(t, out, p, NextHeaderIPv4)[8:24], seal(t, out, p, NextHeaderIPv4)[8:24]) {
					t.Error("the IV repeats")
				}
			})
		}
	}
	ok := SAConfig{SPI: 0x100, Src: gwA, Dst: gwB, Dir: DirIn, KEYMAT: keymat(16), AuthKey: keymat(20), Cipher: AESCBCHMACSHA1, ReplayWindow: 64}
	if _, err := NewSA(ok); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(*SAConfig){
		"gcm keymat":  func(c *SAConfig) { c.KEYMAT = keymat(20) },
		"sha256 key":  func(c *SAConfig) { c.Cipher = AESCBCHMACSHA256 },
		"no auth key": func(c *SAConfig) { c.AuthKey = nil },
		"gcm auth":    func(c *SAConfig) { c.Cipher, c.KEYMAT = AESGCM16, keymat(20) },
		"cipher":      func(c *SAConfig) { c.Cipher = 9 },
	} {
		c := ok
		f(&c)
		if _, err := NewSA(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// BenchmarkSealCBC seals inner packets with AES-CBC and an HMAC beside a
// bare AES-CBC encryption and HMAC of the same octets.
func BenchmarkSealCBC(b *testing.B) {
	for _, c := range []Cipher{AESCBCHMACSHA1, AESCBCHMACSHA256} {
		for _, n := range benchSizes {
			out, _ := cipherPair(b, c, 16, false, 64, 0)
			buf := make([]byte, Headroom+n+Tailroom)
			copy(buf[Headroom:], ipv4(max(n, 28), 1))
			b.Run(fmt.Sprintf("ESP/%v/%d", c, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := out.Seal(buf, Headroom, n, NextHeaderIPv4); err != nil {
						b.Fatal(err)
					}
				}
			})
			enc, mac, pt, sum := bareCBC(b, c, n)
			b.Run(fmt.Sprintf("bare/%v/%d", c, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					enc.CryptBlocks(pt, pt)
					mac.Reset()
					mac.Write(pt)
					mac.Sum(sum[:0])
				}
			})
		}
	}
}

// BenchmarkOpenCBC opens ESP packets with AES-CBC and an HMAC beside a
// bare HMAC check and AES-CBC decryption. Anti-replay is off.
func BenchmarkOpenCBC(b *testing.B) {
	for _, c := range []Cipher{AESCBCHMACSHA1, AESCBCHMACSHA256} {
		for _, n := range benchSizes {
			out, in := cipherPair(b, c, 16, false, 0, 0)
			esp := seal(b, out, ipv4(max(n, 28), 1)[:n], NextHeaderIPv4)
			buf := make([]byte, Headroom+len(esp))
			b.Run(fmt.Sprintf("ESP/%v/%d", c, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					copy(buf[Headroom:], esp)
					if _, _, r := in.OpenPayload(buf, Headroom, len(esp)); r != OK {
						b.Fatal(r)
					}
				}
			})
			_, mac, pt, sum := bareCBC(b, c, n)
			block, _ := aes.NewCipher(keymat(16))
			dec := cipher.NewCBCDecrypter(block, make([]byte, 16))
			ct := bytes.Clone(pt)
			b.Run(fmt.Sprintf("bare/%v/%d", c, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					copy(pt, ct)
					mac.Reset()
					mac.Write(pt)
					hmac.Equal(mac.Sum(sum[:0]), ct[:len(sum)])
					dec.CryptBlocks(pt, pt)
				}
			})
		}
	}
}

// bareCBC is an AES-128-CBC encrypter, the HMAC of c, and a plaintext of
// n octets padded to whole blocks with ESP's trailer.
func bareCBC(b *testing.B, c Cipher, n int) (cipher.BlockMode, hash.Hash, []byte, []byte) {
	block, err := aes.NewCipher(keymat(16))
	if err != nil {
		b.Fatal(err)
	}
	h, klen := sha1.New, 20
	if c == AESCBCHMACSHA256 {
		h, klen = sha256.New, 32
	}
	return cipher.NewCBCEncrypter(block, make([]byte, 16)), hmac.New(h, keymat(klen)),
		make([]byte, n+2+(16-(n+2)%16)%16), make([]byte, 0, 64)
}
