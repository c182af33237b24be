package ipsec

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"
)

var benchSizes = []int{64, 512, 1400, 8000}

// BenchmarkSeal seals inner packets of each size beside a bare AES-GCM
// Seal of the same plaintext (packet and trailer) with the same AAD size.
func BenchmarkSeal(b *testing.B) {
	for _, keyLen := range []int{16, 32} {
		for _, n := range benchSizes {
			out, _ := pair(b, keyLen, false, 64, 0)
			buf := make([]byte, Headroom+n+Tailroom)
			copy(buf[Headroom:], ipv4(max(n, 28), 1))
			b.Run(fmt.Sprintf("ESP/AES-%d/%d", keyLen*8, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := out.Seal(buf, Headroom, n, NextHeaderIPv4); err != nil {
						b.Fatal(err)
					}
				}
			})
			aead := bareGCM(b, keyLen)
			pt := make([]byte, n+(4-(n+2)%4)%4+2, n+Tailroom)
			nonce, aad := make([]byte, 12), make([]byte, 8)
			b.Run(fmt.Sprintf("GCM/AES-%d/%d", keyLen*8, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					aead.Seal(pt[:0], nonce, pt, aad)
				}
			})
		}
	}
}

// BenchmarkOpen opens ESP packets of each size beside a bare AES-GCM Open.
// Anti-replay is off here so that one packet can be opened again and
// again; the window's cost is in BenchmarkOpenReplay.
func BenchmarkOpen(b *testing.B) {
	for _, keyLen := range []int{16, 32} {
		for _, n := range benchSizes {
			out, in := pair(b, keyLen, false, 0, 0)
			esp := seal(b, out, ipv4(max(n, 28), 1)[:n], NextHeaderIPv4)
			buf := make([]byte, Headroom+len(esp))
			b.Run(fmt.Sprintf("ESP/AES-%d/%d", keyLen*8, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					copy(buf[Headroom:], esp)
					if _, _, r := in.OpenPayload(buf, Headroom, len(esp)); r != OK {
						b.Fatal(r)
					}
				}
			})
			aead := bareGCM(b, keyLen)
			nonce, aad := make([]byte, 12), make([]byte, 8)
			ct := aead.Seal(nil, nonce, make([]byte, len(esp)-HeaderLen-IVLen-ICVLen), aad)
			ctBuf := make([]byte, len(ct))
			b.Run(fmt.Sprintf("GCM/AES-%d/%d", keyLen*8, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					copy(ctBuf, ct)
					if _, err := aead.Open(ctBuf[:0], nonce, ctBuf, aad); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkOpenReplay opens a stream of 1400-octet packets through an ESN
// window of 1024, as the tunnel does.
func BenchmarkOpenReplay(b *testing.B) {
	out, in := pair(b, 32, true, 1024, 0)
	const n = 1400
	var pkts [][]byte
	for i := range 4096 {
		pkts = append(pkts, seal(b, out, ipv4(n, uint16(i)), NextHeaderIPv4))
	}
	buf := make([]byte, Headroom+len(pkts[0]))
	b.SetBytes(n)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(pkts) { // new packets for the window: reseal with higher SNs
			b.StopTimer()
			for j := range pkts {
				pkts[j] = seal(b, out, ipv4(n, uint16(j)), NextHeaderIPv4)
			}
			i = 0
			b.StartTimer()
		}
		copy(buf[Headroom:], pkts[i])
		if _, r := in.Open(buf, Headroom, len(pkts[i])); r != OK {
			b.Fatal(r)
		}
		i++
	}
}

func bareGCM(b *testing.B, keyLen int) cipher.AEAD {
	block, err := aes.NewCipher(keymat(keyLen))
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	return aead
}

var ciphers = []Cipher{AESGCM16, AESCBCHMACSHA1, AESCBCHMACSHA256}

// TestSealAllocatesNothing: sealing a 1400-octet packet allocates nothing,
// with each cipher.
func TestSealAllocatesNothing(t *testing.T) {
	for _, c := range ciphers {
		out, _ := cipherPair(t, c, 32, true, 1024, 0)
		buf := make([]byte, Headroom+1400+Tailroom)
		p := ipv4(1400, 1)
		if a := testing.AllocsPerRun(200, func() {
			copy(buf[Headroom:], p)
			if _, err := out.Seal(buf, Headroom, len(p), NextHeaderIPv4); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Fatalf("%v: %v allocations per Seal", c, a)
		}
	}
}

// TestOpenAllocatesNothing: opening a new 1400-octet ESP packet (each with
// its own SN, through the replay window and ESN inference) allocates
// nothing.
func TestOpenAllocatesNothing(t *testing.T) {
	for _, c := range ciphers {
		t.Run(c.String(), func(t *testing.T) { testOpenAllocatesNothing(t, c) })
	}
}

func testOpenAllocatesNothing(t *testing.T, c Cipher) {
	out, in := cipherPair(t, c, 32, true, 1024, 0)
	p := ipv4(1400, 1)
	const runs = 200
	var bufs [][]byte // AllocsPerRun calls once more to warm up
	var lens []int
	for range runs + 1 {
		buf := make([]byte, Headroom+1400+Tailroom)
		copy(buf[Headroom:], p)
		esp, err := out.Seal(buf, Headroom, len(p), NextHeaderIPv4)
		if err != nil {
			t.Fatal(err)
		}
		bufs, lens = append(bufs, buf), append(lens, len(esp))
	}
	h := Headroom - HeaderLen - c.ivLen()
	i := 0
	if a := testing.AllocsPerRun(runs, func() {
		buf, n := bufs[i], lens[i]
		i++
		if _, r := in.Open(buf, h, n); r != OK {
			t.Fatal(r)
		}
	}); a != 0 {
		t.Fatalf("%v allocations per Open", a)
	}
}
