package macsec

import (
	"encoding/binary"
)

// Result is what Validate did with a frame. The delivered results come
// first; a frame with any other result must not reach the controlled port.
type Result uint8

const (
	OK         Result = iota // validated; delivered (InPktsOK)
	Delayed                  // validated, PN below the lowest acceptable, replay off; delivered (InPktsDelayed)
	Unchecked                // not validated (validateFrames Disabled); delivered (InPktsUnchecked)
	Invalid                  // ICV check failed, validateFrames Check; delivered (InPktsInvalid)
	Untagged                 // no SecTAG, validateFrames not Strict; delivered (InPktsUntagged)
	UnknownSCI               // no RX SC, C=0, not Strict; delivered unvalidated (InPktsUnknownSCI)
	UnusedSA                 // no active RX SA, C=0, not Strict; delivered unvalidated (InPktsUnusedSA)

	KaY // E=1, C=0: reserved for the key agreement entity, not for the controlled port

	NoTag      // discarded: no SecTAG, Strict (InPktsNoTag)
	BadTag     // discarded: the SecTAG failed the 9.12 checks (InPktsBadTag)
	NoSCI      // discarded: no RX SC for the SCI (InPktsNoSCI)
	NotUsingSA // discarded: no active RX SA for the AN (InPktsNotUsingSA)
	Late       // discarded: PN below the lowest acceptable PN, replay on (InPktsLate)
	NotValid   // discarded: ICV check failed (InPktsNotValid)
)

var resultInfo = [...]struct{ counter, reason string }{
	OK:         {"InPktsOK", "validated"},
	Delayed:    {"InPktsDelayed", "validated, PN below the lowest acceptable PN (replay protection off)"},
	Unchecked:  {"InPktsUnchecked", "delivered without validation (validateFrames disabled)"},
	Invalid:    {"InPktsInvalid", "ICV check failed, delivered because validateFrames is check"},
	Untagged:   {"InPktsUntagged", "no SecTAG, delivered because validateFrames is not strict"},
	UnknownSCI: {"InPktsUnknownSCI", "no receive SC for the SCI, delivered unvalidated"},
	UnusedSA:   {"InPktsUnusedSA", "no active receive SA for the AN, delivered unvalidated"},
	KaY:        {"", "E=1 C=0: reserved for the key agreement, not delivered"},
	NoTag:      {"InPktsNoTag", "no SecTAG (validateFrames strict)"},
	BadTag:     {"InPktsBadTag", "SecTAG failed the 802.1AE 9.12 validity checks"},
	NoSCI:      {"InPktsNoSCI", "no receive SC for the SCI"},
	NotUsingSA: {"InPktsNotUsingSA", "no active receive SA for the AN"},
	Late:       {"InPktsLate", "PN below the lowest acceptable PN (replay)"},
	NotValid:   {"InPktsNotValid", "ICV check failed"},
}

// Delivered reports whether the frame goes to the controlled port.
func (r Result) Delivered() bool { return r <= UnusedSA }

// Counter is the name of the counter the result increments.
func (r Result) Counter() string {
	if int(r) < len(resultInfo) {
		return resultInfo[r].counter
	}
	return ""
}

// String says what happened, e.g. "InPktsLate: PN below the lowest acceptable PN (replay)".
func (r Result) String() string {
	if int(r) >= len(resultInfo) {
		return "unknown result"
	}
	if r == KaY {
		return "KaY: " + resultInfo[r].reason
	}
	return resultInfo[r].counter + ": " + resultInfo[r].reason
}

// Validate checks, in place, the frame buf[off:off+n] received on the
// uncontrolled port. A delivered frame is returned as a slice of buf, with
// the SecTAG and ICV removed when it had them; other frames are dropped and
// counted (a KaY frame is returned unchanged for the key agreement).
//
// The order of the checks is that of Linux's macsec_handle_frame: EtherType,
// the KaY encoding, the SC, the SecTAG validity, the SA, the replay
// pre-check, the ICV, then the replay check again and the counters.
// Validate allocates nothing and may run concurrently with Protect and the
// control methods; receive paths for the same SecY may run in parallel. It
// keeps its IV in the 12 octets before off when there are that many: a
// caller that receives at an offset of 12 or more saves a pool round trip
// per frame.
func (y *SecY) Validate(buf []byte, off, n int) ([]byte, Result) {
	frame := buf[off : off+n]
	if n < addrLen+2 {
		y.stats.inPktsBadTag.Add(1)
		return nil, BadTag
	}
	if binary.BigEndian.Uint16(frame[addrLen:]) != EtherType {
		if y.cfg.ValidateFrames == Strict {
			y.stats.inPktsNoTag.Add(1)
			return nil, NoTag
		}
		y.stats.inPktsUntagged.Add(1)
		return frame, Untagged
	}
	if n < addrLen+sectagLen {
		y.stats.inPktsBadTag.Add(1)
		return nil, BadTag
	}
	tciAN := frame[addrLen+2]
	if tciAN&(TCIE|TCIC) == TCIE {
		return frame, KaY
	}
	changed := tciAN&TCIC != 0
	strict := y.cfg.ValidateFrames == Strict

	// Find the SC: from the tag, from ES, or the one peer SC.
	var sc *rxSC
	switch {
	case tciAN&TCISC != 0:
		if n < addrLen+sectagLenSCI {
			y.stats.inPktsBadTag.Add(1)
			return nil, BadTag
		}
		sc = y.findRxSC(SCI(binary.BigEndian.Uint64(frame[addrLen+sectagLen:])))
	case tciAN&TCIES != 0:
		sc = y.findRxSC(SCI(binary.BigEndian.Uint64(frame[6:])&^0xFFFF | PortES))
	default:
		if scs := *y.rxSCs.Load(); len(scs) == 1 {
			sc = scs[0]
		}
	}
	tagLen := sectagLen
	if tciAN&TCISC != 0 {
		tagLen = sectagLenSCI
	}
	an, sl, pn32 := tciAN&ANMask, frame[addrLen+3], binary.BigEndian.Uint32(frame[addrLen+4:])
	err := checkTag(tciAN&^ANMask, sl, pn32, n, y.xpn)
	if sc == nil {
		if changed || strict {
			y.stats.inPktsNoSCI.Add(1)
			return nil, NoSCI
		}
		if err != nil {
			y.stats.inPktsBadTag.Add(1)
			return nil, BadTag
		}
		y.stats.inPktsUnknownSCI.Add(1)
		return strip(frame, tagLen), UnknownSCI
	}
	if err != nil {
		y.stats.inPktsBadTag.Add(1)
		return nil, BadTag
	}

	sa := sc.sa[an].Load()
	if sa == nil || !sa.active.Load() {
		if changed || strict {
			sc.stats.notUsingSA.Add(1)
			if sa != nil {
				sa.stats.notUsingSA.Add(1)
			}
			return nil, NotUsingSA
		}
		sc.stats.unusedSA.Add(1)
		if sa != nil {
			sa.stats.unusedSA.Add(1)
		}
		return strip(frame, tagLen), UnusedSA
	}

	window := y.cfg.ReplayWindow
	lowest := lowestPN(sa.nextPN.Load(), window)
	pn := uint64(pn32)
	if sa.xpn {
		pn = recoverPN(lowest, pn32)
	}
	if y.cfg.ReplayProtect && pn < lowest {
		sc.stats.late.Add(1)
		return nil, Late
	}

	userData := n - addrLen - tagLen - ICVLen
	valid := false
	if changed || y.cfg.ValidateFrames != Disabled {
		iv, pooled := y.ivScratch(buf, off-ivLen)
		sa.iv(iv, sc.sci, pn)
		hdr := addrLen + tagLen
		var err error
		if tciAN&TCIE != 0 {
			ct := frame[hdr:]
			_, err = sa.aead.Open(ct[:0], iv[:], ct, frame[:hdr])
		} else {
			icv := frame[n-ICVLen:]
			_, err = sa.aead.Open(icv[:0], iv[:], icv, frame[:n-ICVLen])
		}
		if pooled {
			y.ivs.Put(iv)
		}
		valid = err == nil
	}

	// The replay check again: another receiver may have moved nextPN.
	lowest = lowestPN(sa.nextPN.Load(), window)
	if y.cfg.ReplayProtect && pn < lowest {
		sc.stats.late.Add(1)
		return nil, Late
	}
	if y.cfg.ValidateFrames != Disabled {
		if tciAN&TCIE != 0 {
			sc.stats.octetsDecrypted.Add(uint64(userData))
		} else {
			sc.stats.octetsValidated.Add(uint64(userData))
		}
	}
	var r Result
	switch {
	case valid && pn < lowest:
		sc.stats.delayed.Add(1)
		r = Delayed
	case valid:
		sc.stats.ok.Add(1)
		sa.stats.ok.Add(1)
		r = OK
	case changed || strict:
		sc.stats.notValid.Add(1)
		sa.stats.notValid.Add(1)
		return nil, NotValid
	case y.cfg.ValidateFrames == Check:
		sc.stats.invalid.Add(1)
		sa.stats.invalid.Add(1)
		r = Invalid
	case pn < lowest:
		sc.stats.delayed.Add(1)
		r = Delayed
	default:
		sc.stats.unchecked.Add(1)
		r = Unchecked
	}
	if valid {
		sa.advance(pn)
	}
	return strip(frame, tagLen), r
}

// strip removes the SecTAG and ICV from a protected frame in place by
// moving DA|SA up against the secure data.
func strip(frame []byte, tagLen int) []byte {
	copy(frame[tagLen:tagLen+addrLen], frame[:addrLen])
	return frame[tagLen : len(frame)-ICVLen]
}
