package macsec

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"testing"
)

// benchPair returns a transmitting and a receiving SecY sharing one SA.
func benchPair(tb testing.TB, suite CipherSuite) (tx, rx *SecY) {
	tb.Helper()
	k := Key{SAK: make([]byte, suite.KeyLen()), SSCI: 1}
	for i := range k.SAK {
		k.SAK[i] = byte(i)
	}
	a := NewSCI([]byte{2, 0, 0, 0, 0, 1}, 1)
	tx, err := New(Config{Suite: suite, SCI: a})
	if err != nil {
		tb.Fatal(err)
	}
	rx, err = New(Config{Suite: suite, SCI: NewSCI([]byte{2, 0, 0, 0, 0, 2}, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	if err := tx.InstallTxSA(0, k, 1); err != nil {
		tb.Fatal(err)
	}
	if err := rx.AddRxSC(a); err != nil {
		tb.Fatal(err)
	}
	if err := rx.InstallRxSA(a, 0, k, 1); err != nil {
		tb.Fatal(err)
	}
	return tx, rx
}

var benchSizes = []int{64, 512, 1500, 9000}

// protectedFrame returns the receiver of a benchPair and a frame of size
// cleartext octets its peer protected.
func protectedFrame(b *testing.B, suite CipherSuite, size int) (*SecY, []byte) {
	tx, rx := benchPair(b, suite)
	prot, err := tx.Protect(make([]byte, Headroom+size+ICVLen), Headroom, size)
	if err != nil {
		b.Fatal(err)
	}
	return rx, prot
}

// BenchmarkProtect measures Protect beside a bare AES-GCM Seal of the same
// secure data in the same run: the SecY's own cost is the difference.
func BenchmarkProtect(b *testing.B) {
	for _, suite := range Suites {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", suite, size), func(b *testing.B) {
				tx, _ := benchPair(b, suite)
				buf := make([]byte, Headroom+size+ICVLen)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := tx.Protect(buf, Headroom, size); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/%d/bare-gcm-seal", suite, size), func(b *testing.B) {
				aead := bareGCM(b, suite)
				// The same bytes as Protect: 20 octets of DA|SA|SecTAG as
				// AAD, the MSDU encrypted in place, the ICV after it.
				buf := make([]byte, 8+size+ICVLen)
				var iv [12]byte
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					aead.Seal(buf[20:20], iv[:], buf[20:8+size], buf[:20])
				}
			})
		}
	}
}

// BenchmarkValidate measures Validate beside a bare AES-GCM Open.
func BenchmarkValidate(b *testing.B) {
	for _, suite := range Suites {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", suite, size), func(b *testing.B) {
				rx, prot := protectedFrame(b, suite, size)
				buf := make([]byte, ivLen+len(prot))
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					// Validate decrypts in place; the same PN again is Delayed
					// after the first time, with the same work.
					copy(buf[ivLen:], prot)
					if _, r := rx.Validate(buf, ivLen, len(prot)); r != OK && r != Delayed {
						b.Fatal(r)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/%d/bare-gcm-open", suite, size), func(b *testing.B) {
				aead := bareGCM(b, suite)
				var iv [12]byte
				sealed := aead.Seal(make([]byte, 20), iv[:], make([]byte, size-12), make([]byte, 20))
				buf := make([]byte, len(sealed))
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					copy(buf, sealed)
					ct := buf[20:]
					if _, err := aead.Open(ct[:0], iv[:], ct, buf[:20]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func bareGCM(tb testing.TB, suite CipherSuite) cipher.AEAD {
	block, err := aes.NewCipher(make([]byte, suite.KeyLen()))
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return aead
}

// benchBatch is the batch of the batch benchmarks: the frames of one read
// of a packet socket or TAP at full load.
const benchBatch = 64

// newBatchBufs returns benchBatch buffers of size octets each.
func newBatchBufs(size int) [][]byte {
	bufs := make([][]byte, benchBatch)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs
}

// BenchmarkProtectBatch measures ProtectBatch beside bare AES-GCM Seals of
// the same frames in buffers of the same layout (the AAD where the SecY
// puts DA|SA|SecTAG, the MSDU encrypted in place, the ICV after it).
func BenchmarkProtectBatch(b *testing.B) {
	for _, suite := range Suites {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", suite, size), func(b *testing.B) {
				tx, _ := benchPair(b, suite)
				bufs := newBatchBufs(Headroom + size + ICVLen)
				sizes, out := make([]int, benchBatch), make([][]byte, benchBatch)
				for i := range sizes {
					sizes[i] = size
				}
				b.SetBytes(int64(size * benchBatch))
				b.ReportAllocs()
				for b.Loop() {
					if n, err := tx.ProtectBatch(bufs, Headroom, sizes, out); n != benchBatch {
						b.Fatal(n, err)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/%d/bare-gcm-seal", suite, size), func(b *testing.B) {
				aead := bareGCM(b, suite)
				bufs := newBatchBufs(Headroom + size + ICVLen)
				var iv [12]byte
				var seq uint64
				const aad = Headroom - sectagLen
				b.SetBytes(int64(size * benchBatch))
				b.ReportAllocs()
				for b.Loop() {
					for _, buf := range bufs {
						seq++
						binary.BigEndian.PutUint64(iv[4:], seq)
						aead.Seal(buf[aad+20:aad+20], iv[:], buf[aad+20:aad+8+size], buf[aad:aad+20])
					}
				}
			})
		}
	}
}

// BenchmarkValidateBatch measures ValidateBatch beside bare AES-GCM Opens
// of the same frames in buffers of the same layout; both copy each frame
// in first, since both decrypt in place.
func BenchmarkValidateBatch(b *testing.B) {
	for _, suite := range Suites {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", suite, size), func(b *testing.B) {
				rx, prot := protectedFrame(b, suite, size)
				bufs := newBatchBufs(RxHeadroom + len(prot))
				sizes, out, res := make([]int, benchBatch), make([][]byte, benchBatch), make([]Result, benchBatch)
				for i := range sizes {
					sizes[i] = len(prot)
				}
				b.SetBytes(int64(size * benchBatch))
				b.ReportAllocs()
				for b.Loop() {
					for _, buf := range bufs {
						copy(buf[RxHeadroom:], prot)
					}
					rx.ValidateBatch(bufs, RxHeadroom, sizes, out, res)
					if r := res[benchBatch-1]; r != OK && r != Delayed {
						b.Fatal(r)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/%d/bare-gcm-open", suite, size), func(b *testing.B) {
				aead := bareGCM(b, suite)
				var iv [12]byte
				sealed := aead.Seal(make([]byte, 20), iv[:], make([]byte, size-12), make([]byte, 20))
				bufs := newBatchBufs(RxHeadroom + len(sealed))
				b.SetBytes(int64(size * benchBatch))
				b.ReportAllocs()
				for b.Loop() {
					for _, buf := range bufs {
						copy(buf[RxHeadroom:], sealed)
					}
					for _, buf := range bufs {
						ct := buf[RxHeadroom+20:]
						if _, err := aead.Open(ct[:0], iv[:], ct, buf[RxHeadroom:RxHeadroom+20]); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
