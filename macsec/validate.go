package macsec

import (
	"encoding/binary"
	"sync/atomic"
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
// per frame. A receiver with more than one frame at hand uses
// ValidateBatch.
func (y *SecY) Validate(buf []byte, off, n int) ([]byte, Result) {
	bufs, sizes, out, res := [1][]byte{buf}, [1]int{n}, [1][]byte{}, [1]Result{}
	y.ValidateBatch(bufs[:], off, sizes[:], out[:], res[:])
	return out[0], res[0]
}

// ValidateBatch validates the frames bufs[i][off:off+sizes[i]] in order, as
// Validate does each, and sets out[i] and results[i] to what Validate would
// return for it. The frames of one receive SA are checked against the
// replay window one after the other as Validate would, but the SA's
// atomics (its next PN, its counters and its SC's) are updated once per
// run of frames on that SA: what a receiver with a batch of frames at hand
// saves. Another receiver of the same SecY in parallel sees the batch's
// advance of the lowest acceptable PN when the batch ends. sizes, out and
// results must be at least as long as bufs.
func (y *SecY) ValidateBatch(bufs [][]byte, off int, sizes []int, out [][]byte, results []Result) {
	sizes, out, results = sizes[:len(bufs)], out[:len(bufs)], results[:len(bufs)]
	var iv *[12]byte // nil: each frame's IV goes before it
	if off < ivLen {
		iv = y.ivs.Get().(*[12]byte)
	}
	var run rxRun
	for i := 0; i < len(bufs); {
		if iv == nil {
			if k := y.validateRun(bufs[i:], off, sizes[i:], out[i:], results[i:], &run); k > 0 {
				i += k
				continue
			}
		}
		out[i], results[i] = y.validate(bufs[i], off, sizes[i], iv, &run)
		i++
	}
	run.flush()
	if iv != nil {
		y.ivs.Put(iv)
	}
}

// rxRun gathers what a run of frames on one receive SA does to the SA's
// next PN and to the counters of the SA and its SC, until flush adds it to
// their atomics.
type rxRun struct {
	sc   *rxSC
	sa   *rxSA
	next uint64 // the SA's next PN after the run's valid frames; 0 if none

	octetsValidated, octetsDecrypted, unchecked, delayed, late uint64
	ok, invalid, notValid                                      uint64 // of the SC and of the SA
}

// start makes sa the run's SA, flushing the run of another SA.
func (r *rxRun) start(sc *rxSC, sa *rxSA) {
	if r.sa != sa {
		r.flush()
		r.sc, r.sa = sc, sa
	}
}

// lowest is the lowest PN the run's SA accepts now.
func (r *rxRun) lowest(window uint32) uint64 {
	return lowestPN(max(r.sa.nextPN.Load(), r.next), window)
}

func (r *rxRun) flush() {
	if r.sa == nil {
		return
	}
	if r.next != 0 {
		r.sa.raise(r.next)
	}
	sc, sa := &r.sc.stats, &r.sa.stats
	addNonZero(&sc.octetsValidated, r.octetsValidated)
	addNonZero(&sc.octetsDecrypted, r.octetsDecrypted)
	addNonZero(&sc.unchecked, r.unchecked)
	addNonZero(&sc.delayed, r.delayed)
	addNonZero(&sc.late, r.late)
	addNonZero(&sc.ok, r.ok)
	addNonZero(&sa.ok, r.ok)
	addNonZero(&sc.invalid, r.invalid)
	addNonZero(&sa.invalid, r.invalid)
	addNonZero(&sc.notValid, r.notValid)
	addNonZero(&sa.notValid, r.notValid)
	*r = rxRun{}
}

func addNonZero(c *atomic.Uint64, v uint64) {
	if v != 0 {
		c.Add(v)
	}
}

// minProtected is the shortest frame that can validate: DA|SA, a SecTAG
// without SCI, one octet of secure data, the ICV.
const minProtected = addrLen + sectagLen + 1 + ICVLen

// validateRun validates the frames of the common case, encrypted frames
// for one active receive SA, from the first frame of bufs on while they
// carry its TCI, AN and SCI, with the IV in the RxHeadroom before each. It
// returns how many it took: 0 when the first frame is another case, which
// validate then takes. Each frame goes through validate's checks in
// validate's order, with the same results and counters; what the run
// saves is finding the SC and SA and deciding the case once, and a loop
// small enough to keep its state in registers across the AEAD's call.
func (y *SecY) validateRun(bufs [][]byte, off int, sizes []int, out [][]byte, results []Result, run *rxRun) int {
	n0 := sizes[0]
	f := bufs[0][off : off+n0]
	if n0 < minProtected || binary.BigEndian.Uint16(f[addrLen:]) != EtherType || f[addrLen+2]&(TCIE|TCIC) != TCIE|TCIC {
		return 0
	}
	tci := f[addrLen+2]
	if tci&TCIV != 0 || tci&TCISC != 0 && tci&(TCIES|TCISCB) != 0 { // tagValid's checks of the TCI
		return 0
	}
	sc := y.runSC(f, tci)
	if sc == nil {
		return 0
	}
	sa := sc.sa[tci&ANMask].Load()
	if sa == nil || !sa.active.Load() {
		return 0
	}
	hdr := addrLen + sectagLen
	if tci&TCISC != 0 {
		hdr = addrLen + sectagLenSCI
	}
	run.start(sc, sa)
	window, replay, xpn, sci := y.cfg.ReplayWindow, y.cfg.ReplayProtect, y.xpn, sc.sci
	tag := uint32(EtherType)<<8 | uint32(tci) // the SecTAG's first 3 octets
	bySCI := tci&(TCISC|TCIES) != 0
	count := y.cfg.ValidateFrames != Disabled
	aead := sa.aead
	next := run.next
	var late, ok, delayed, notValid, octets uint64

	k := 0
	for ; k < len(bufs); k++ {
		buf, n := bufs[k], sizes[k]
		f := buf[off : off+n]
		if n < minProtected {
			break
		}
		h := binary.BigEndian.Uint32(f[addrLen:]) // EtherType, TCI|AN, SL
		sl, pn32, secure := uint8(h), binary.BigEndian.Uint32(f[addrLen+4:]), n-hdr-ICVLen
		if h>>8 != tag || bySCI && frameSCI(f, tci, 0) != sci ||
			sl&0xC0 != 0 || pn32 == 0 && !xpn || (sl != 0 || secure < minNonShortLen) && secure != int(sl) {
			break
		}
		lowest := lowestPN(max(sa.nextPN.Load(), next), window)
		pn := uint64(pn32)
		if xpn {
			pn = recoverPN(lowest, pn32)
		}
		if replay && pn < lowest {
			late++
			out[k], results[k] = nil, Late
			continue
		}
		iv := buf[off-ivLen : off]
		sa.iv((*[ivLen]byte)(iv), sci, pn)
		ct := f[hdr:]
		_, err := aead.Open(ct[:0], iv, ct, f[:hdr])

		// The replay check again: another receiver may have moved nextPN.
		lowest = lowestPN(max(sa.nextPN.Load(), next), window)
		if replay && pn < lowest {
			late++
			out[k], results[k] = nil, Late
			continue
		}
		if count {
			octets += uint64(secure)
		}
		switch {
		case err != nil:
			notValid++
			out[k], results[k] = nil, NotValid
			continue
		case pn < lowest:
			delayed++
			results[k] = Delayed
		default:
			ok++
			results[k] = OK
		}
		next = max(next, nextAfter(pn))
		out[k] = strip(f, hdr-addrLen)
	}
	run.next = next
	run.late += late
	run.ok += ok
	run.delayed += delayed
	run.notValid += notValid
	run.octetsDecrypted += octets
	return k
}

// runSC is the receive SC of a frame with TCI tci: by the SCI in the
// SecTAG, by ES, or the one peer SC. The frame has the SecTAG's SCI when
// tci has SC.
func (y *SecY) runSC(f []byte, tci uint8) *rxSC {
	if tci&(TCISC|TCIES) != 0 {
		return y.findRxSC(frameSCI(f, tci, 0))
	}
	if scs := *y.rxSCs.Load(); len(scs) == 1 {
		return scs[0]
	}
	return nil
}

// frameSCI is the SCI a frame with TCI tci names: the SecTAG's (the frame
// has it), or ES's; otherwise none, so def.
func frameSCI(f []byte, tci uint8, def SCI) SCI {
	switch {
	case tci&TCISC != 0:
		return SCI(binary.BigEndian.Uint64(f[addrLen+sectagLen:]))
	case tci&TCIES != 0:
		return SCI(binary.BigEndian.Uint64(f[6:])&^0xFFFF | PortES)
	}
	return def
}

// validate is Validate of one frame within run. iv is the IV scratch, or
// nil for the 12 octets before off (or a pooled one when off is smaller).
func (y *SecY) validate(buf []byte, off, n int, iv *[12]byte, run *rxRun) ([]byte, Result) {
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

	if tciAN&TCISC != 0 && n < addrLen+sectagLenSCI {
		y.stats.inPktsBadTag.Add(1)
		return nil, BadTag
	}
	sc := y.runSC(frame, tciAN)
	tagLen := sectagLen
	if tciAN&TCISC != 0 {
		tagLen = sectagLenSCI
	}
	an, sl, pn32 := tciAN&ANMask, frame[addrLen+3], binary.BigEndian.Uint32(frame[addrLen+4:])
	tagOK := tagValid(tciAN&^ANMask, sl, pn32, n, y.xpn)
	if sc == nil {
		if changed || strict {
			y.stats.inPktsNoSCI.Add(1)
			return nil, NoSCI
		}
		if !tagOK {
			y.stats.inPktsBadTag.Add(1)
			return nil, BadTag
		}
		y.stats.inPktsUnknownSCI.Add(1)
		return strip(frame, tagLen), UnknownSCI
	}
	if !tagOK {
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

	run.start(sc, sa)
	window := y.cfg.ReplayWindow
	lowest := run.lowest(window)
	pn := uint64(pn32)
	if sa.xpn {
		pn = recoverPN(lowest, pn32)
	}
	if y.cfg.ReplayProtect && pn < lowest {
		run.late++
		return nil, Late
	}

	userData := n - addrLen - tagLen - ICVLen
	valid := false
	if changed || y.cfg.ValidateFrames != Disabled {
		pooled := false
		if iv == nil {
			iv, pooled = y.ivScratch(buf, off-ivLen)
		}
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
	lowest = run.lowest(window)
	if y.cfg.ReplayProtect && pn < lowest {
		run.late++
		return nil, Late
	}
	if y.cfg.ValidateFrames != Disabled {
		if tciAN&TCIE != 0 {
			run.octetsDecrypted += uint64(userData)
		} else {
			run.octetsValidated += uint64(userData)
		}
	}
	var r Result
	switch {
	case valid && pn < lowest:
		run.delayed++
		r = Delayed
	case valid:
		run.ok++
		r = OK
	case changed || strict:
		run.notValid++
		return nil, NotValid
	case y.cfg.ValidateFrames == Check:
		run.invalid++
		r = Invalid
	case pn < lowest:
		run.delayed++
		r = Delayed
	default:
		run.unchecked++
		r = Unchecked
	}
	if valid {
		run.next = max(run.next, nextAfter(pn))
	}
	return strip(frame, tagLen), r
}

// strip removes the SecTAG and ICV from a protected frame in place by
// moving DA|SA up against the secure data.
func strip(frame []byte, tagLen int) []byte {
	addr := *(*[addrLen]byte)(frame) // may overlap where it goes
	*(*[addrLen]byte)(frame[tagLen:]) = addr
	return frame[tagLen : len(frame)-ICVLen]
}
