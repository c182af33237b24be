package macsec

import (
	"encoding/binary"
	"errors"
)

// Transmit errors. The frame is not sent.
var (
	ErrNoTxSA       = errors.New("macsec: SecY not operational: no active transmit SA")
	ErrPNExhausted  = errors.New("macsec: transmit SA exhausted its packet numbers")
	ErrTooLong      = errors.New("macsec: protected frame longer than the MTU")
	ErrBufferLayout = errors.New("macsec: frame needs MinHeadroom octets before it and ICVLen after it")
)

// Protect protects, in place, the cleartext frame buf[off:off+n]
// (DA | SA | EtherType | payload) and returns the protected frame
// DA | SA | SecTAG | secure data | ICV, which is a slice of buf starting up
// to 16 octets before off. buf must have room for ICVLen octets after the
// frame and at least MinHeadroom before it; Protect owns the Headroom
// octets before off (it keeps its IV there). Protect allocates nothing and
// may run concurrently with Validate and with itself. A sender with more
// than one frame at hand uses ProtectBatch.
func (y *SecY) Protect(buf []byte, off, n int) ([]byte, error) {
	bufs, sizes, out := [1][]byte{buf}, [1]int{n}, [1][]byte{}
	_, err := y.ProtectBatch(bufs[:], off, sizes[:], out[:])
	return out[0], err
}

// ProtectBatch protects the cleartext frames bufs[i][off:off+sizes[i]] in
// place, as Protect does each, and sets out[i] to the protected frame, or
// to nil for a frame not sent. It returns how many it protected and the
// error of the first frame not sent. The frames take consecutive PNs of
// the encoding SA in their order, and a batch touches the SA's atomics
// (its PNs, the threshold, the counters) once instead of once per frame:
// what a sender with a batch of frames at hand saves. sizes and out must
// be at least as long as bufs.
func (y *SecY) ProtectBatch(bufs [][]byte, off int, sizes []int, out [][]byte) (int, error) {
	sizes, out = sizes[:len(bufs)], out[:len(bufs)]
	failed := len(bufs) // the first frame not sent
	var failure error
	fail := func(i int, err error) {
		if i < failed {
			failed, failure = i, err
		}
	}

	// The checks that take no PN, in Protect's order.
	want := 0
	for i, buf := range bufs {
		switch {
		case !laidOut(buf, off, sizes[i]):
			fail(i, ErrBufferLayout)
		case y.cfg.Unprotected:
			want++
		case y.tooLong(sizes[i]):
			y.stats.outPktsTooLong.Add(1)
			fail(i, ErrTooLong)
		default:
			want++
		}
	}
	if y.cfg.Unprotected {
		for i, buf := range bufs {
			out[i] = nil
			if laidOut(buf, off, sizes[i]) {
				out[i] = buf[off : off+sizes[i]]
			}
		}
		y.stats.outPktsUntagged.Add(uint64(want))
		return want, failure
	}
	if want == 0 {
		return 0, failure
	}

	sa := y.tx.sa[y.tx.encoding.Load()].Load()
	var pn uint64
	var k int
	if sa != nil && sa.active.Load() {
		pn, k = sa.takePNs(want)
	}
	if k > 0 && pn+uint64(k-1) >= sa.threshold && !sa.warned.Load() && sa.warned.CompareAndSwap(false, true) && y.cfg.OnPNThreshold != nil {
		y.cfg.OnPNThreshold(sa.an, max(pn, sa.threshold)) // the first PN past the threshold
	}
	if k < want {
		y.stats.outPktsNoSA.Add(uint64(want - k))
	}

	var octets uint64
	if k > 0 {
		octets = y.sealFrames(sa, bufs, off, sizes, out, pn, k)
	} else {
		clear(out)
	}
	if k < want { // the first frame past the last PN, or every frame
		for i, buf := range bufs {
			if out[i] == nil && laidOut(buf, off, sizes[i]) && !y.tooLong(sizes[i]) {
				err := ErrNoTxSA
				if sa != nil && sa.exhausted() {
					err = ErrPNExhausted
				}
				fail(i, err)
				break
			}
		}
	}
	if k == 0 {
		return 0, failure
	}
	if y.cfg.IntegrityOnly {
		sa.stats.pktsProtected.Add(uint64(k))
		y.tx.stats.pktsProtected.Add(uint64(k))
		y.tx.stats.octetsProtected.Add(octets)
	} else {
		sa.stats.pktsEncrypted.Add(uint64(k))
		y.tx.stats.pktsEncrypted.Add(uint64(k))
		y.tx.stats.octetsEncrypted.Add(octets)
	}
	return k, failure
}

// sealFrames protects the frames ProtectBatch sends, the first k of
// those laid out and not too long, with PNs pn, pn+1, …, and sets out[i]
// to each (nil for the others); it returns their secure data octets.
// Each frame's SecTAG, IV and crypto go in one small loop, which keeps
// its state in registers across the AEAD's call. The IV goes into the
// frame's Headroom when there is that much, else into one pooled scratch.
func (y *SecY) sealFrames(sa *txSA, bufs [][]byte, off int, sizes []int, out [][]byte, pn uint64, k int) uint64 {
	var scratch *[ivLen]byte
	if off < Headroom {
		scratch = y.ivs.Get().(*[ivLen]byte)
	}
	tagLen, tagHdr, withSCI := y.tagLen, y.tagHdr|uint64(sa.an)<<40, y.tagLen == sectagLenSCI
	hdr, integrity, sci, mtu := addrLen+y.tagLen, y.cfg.IntegrityOnly, y.cfg.SCI, y.cfg.MTU
	aead := sa.aead
	octets := uint64(0)
	for i, buf := range bufs {
		n := sizes[i]
		out[i] = nil
		if k == 0 || !laidOut(buf, off, n) || tooLong(n, tagLen, mtu) {
			continue
		}
		f := buf[off-tagLen : off+n+ICVLen]   // the protected frame, at least 38 octets
		addr := *(*[addrLen]byte)(f[tagLen:]) // the tag moves DA|SA, which may overlap
		*(*[addrLen]byte)(f) = addr
		binary.BigEndian.PutUint64(f[addrLen:], tagHdr|uint64(shortLen(n-addrLen))<<32|uint64(uint32(pn)))
		if withSCI {
			binary.BigEndian.PutUint64(f[addrLen+8:], uint64(sci))
		}
		iv := scratch
		if iv == nil {
			iv = (*[ivLen]byte)(buf[off-Headroom:])
		}
		sa.iv(iv, sci, pn)
		end := len(f) - ICVLen
		if integrity {
			aead.Seal(f[end:end], iv[:], nil, f[:end])
		} else {
			aead.Seal(f[hdr:hdr], iv[:], f[hdr:end], f[:hdr])
		}
		out[i] = f
		octets += uint64(n - addrLen)
		pn++
		k--
	}
	if scratch != nil {
		y.ivs.Put(scratch)
	}
	return octets
}

// laidOut reports whether buf has room to protect the frame buf[off:off+n].
func laidOut(buf []byte, off, n int) bool {
	return n >= addrLen+2 && off >= MinHeadroom && off+n+ICVLen <= len(buf)
}

// tooLong reports whether a frame of n octets is too long for the MTU once protected.
func (y *SecY) tooLong(n int) bool { return tooLong(n, y.tagLen, y.cfg.MTU) }

// tooLong reports whether a frame of n octets is too long for mtu once
// protected with a SecTAG of tagLen octets.
func tooLong(n, tagLen, mtu int) bool {
	return mtu > 0 && n-14+tagLen+ICVLen > mtu
}
