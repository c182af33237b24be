package macsec

import (
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
// may run concurrently with Validate and with itself.
func (y *SecY) Protect(buf []byte, off, n int) ([]byte, error) {
	if n < addrLen+2 || off < MinHeadroom || off+n+ICVLen > len(buf) {
		return nil, ErrBufferLayout
	}
	if y.cfg.Unprotected {
		y.stats.outPktsUntagged.Add(1)
		return buf[off : off+n], nil
	}
	if y.cfg.MTU > 0 && n-14+y.tagLen+ICVLen > y.cfg.MTU {
		y.stats.outPktsTooLong.Add(1)
		return nil, ErrTooLong
	}
	sa := y.tx.sa[y.tx.encoding.Load()].Load()
	if sa == nil || !sa.active.Load() {
		y.stats.outPktsNoSA.Add(1)
		if sa != nil && sa.exhausted() {
			return nil, ErrPNExhausted
		}
		return nil, ErrNoTxSA
	}
	pn, ok := sa.takePN()
	if !ok {
		y.stats.outPktsNoSA.Add(1)
		return nil, ErrPNExhausted
	}
	if pn >= sa.threshold && !sa.warned.Load() && sa.warned.CompareAndSwap(false, true) && y.cfg.OnPNThreshold != nil {
		y.cfg.OnPNThreshold(sa.an, pn)
	}

	start := off - y.tagLen
	end := off + n
	copy(buf[start:start+addrLen], buf[off:off+addrLen])
	SecTAG{TCI: y.tci, AN: sa.an, SL: shortLen(n - addrLen), PN: uint32(pn), SCI: y.cfg.SCI}.put(buf[start+addrLen:])

	iv, pooled := y.ivScratch(buf, off-Headroom)
	sa.iv(iv, y.cfg.SCI, pn)
	userData := n - addrLen
	if y.cfg.IntegrityOnly {
		sa.aead.Seal(buf[end:end], iv[:], nil, buf[start:end])
		sa.stats.pktsProtected.Add(1)
		y.tx.stats.pktsProtected.Add(1)
		y.tx.stats.octetsProtected.Add(uint64(userData))
	} else {
		msdu := buf[off+addrLen : end]
		sa.aead.Seal(msdu[:0], iv[:], msdu, buf[start:off+addrLen])
		sa.stats.pktsEncrypted.Add(1)
		y.tx.stats.pktsEncrypted.Add(1)
		y.tx.stats.octetsEncrypted.Add(uint64(userData))
	}
	if pooled {
		y.ivs.Put(iv)
	}
	return buf[start : end+ICVLen], nil
}
