package macsec

import "sync/atomic"

// The counters of 802.1AE-2018 clause 10.7, kept under the names Linux uses
// (include/uapi/linux/if_macsec.h, from 802.1AE-2006). Where 802.1AE-2018
// merged two counters, a method gives the 2018 name.

// SecYStats are the counters of the SecY as a whole.
type SecYStats struct {
	OutPktsUntagged  uint64 // transmitted without protection (protectFrames off)
	OutPktsTooLong   uint64 // not transmitted: longer than the uncontrolled port's MTU
	OutPktsNoSA      uint64 // not transmitted: no active encoding SA or its PNs ran out (the SecY was not operational; not an 802.1AE counter)
	InPktsUntagged   uint64 // received without SecTAG and delivered (validateFrames not Strict)
	InPktsNoTag      uint64 // received without SecTAG and discarded (Strict)
	InPktsBadTag     uint64 // discarded: SecTAG failed the 9.12 validity checks
	InPktsUnknownSCI uint64 // no RX SC for the SCI, delivered unvalidated (C=0, not Strict)
	InPktsNoSCI      uint64 // no RX SC for the SCI, discarded
	InPktsOverrun    uint64 // discarded because the cipher could not keep up (never, in software)
}

// TxSCStats are the counters of the transmit SC.
type TxSCStats struct {
	OutPktsProtected   uint64 // integrity protected, not encrypted
	OutPktsEncrypted   uint64 // integrity protected and encrypted
	OutOctetsProtected uint64 // user data octets of OutPktsProtected
	OutOctetsEncrypted uint64 // user data octets of OutPktsEncrypted
}

// TxSAStats are the counters of a transmit SA.
type TxSAStats struct {
	OutPktsProtected uint64
	OutPktsEncrypted uint64
}

// RxSCStats are the counters of a receive SC.
type RxSCStats struct {
	InOctetsValidated uint64 // user data octets of frames validated, not encrypted
	InOctetsDecrypted uint64 // user data octets of frames validated and decrypted
	InPktsUnchecked   uint64 // delivered without validation (validateFrames Disabled)
	InPktsDelayed     uint64 // PN below the lowest acceptable PN, replayProtect off, delivered
	InPktsOK          uint64 // validated and delivered
	InPktsInvalid     uint64 // ICV check failed, delivered (validateFrames Check, C=0)
	InPktsLate        uint64 // PN below the lowest acceptable PN, replayProtect on, discarded
	InPktsNotValid    uint64 // ICV check failed, discarded
	InPktsNotUsingSA  uint64 // no active SA for the AN, discarded
	InPktsUnusedSA    uint64 // no active SA for the AN, delivered unvalidated (C=0, not Strict)
}

// RxSAStats are the counters of a receive SA.
type RxSAStats struct {
	InPktsOK         uint64
	InPktsInvalid    uint64
	InPktsNotValid   uint64
	InPktsNotUsingSA uint64
	InPktsUnusedSA   uint64
}

// Live counters. Each is written by one path (transmit or receive) and
// read at any time; atomics keep readers race-free without locking.

type secyCounters struct {
	outPktsUntagged, outPktsTooLong, outPktsNoSA                atomic.Uint64
	_                                                           [64]byte // keep transmit and receive counters on different cache lines
	inPktsUntagged, inPktsNoTag, inPktsBadTag, inPktsUnknownSCI atomic.Uint64
	inPktsNoSCI, inPktsOverrun                                  atomic.Uint64
}

func (c *secyCounters) snapshot() SecYStats {
	return SecYStats{
		OutPktsUntagged: c.outPktsUntagged.Load(), OutPktsTooLong: c.outPktsTooLong.Load(),
		OutPktsNoSA: c.outPktsNoSA.Load(), InPktsUntagged: c.inPktsUntagged.Load(),
		InPktsNoTag: c.inPktsNoTag.Load(), InPktsBadTag: c.inPktsBadTag.Load(),
		InPktsUnknownSCI: c.inPktsUnknownSCI.Load(), InPktsNoSCI: c.inPktsNoSCI.Load(),
		InPktsOverrun: c.inPktsOverrun.Load(),
	}
}

type txSCCounters struct {
	pktsProtected, pktsEncrypted, octetsProtected, octetsEncrypted atomic.Uint64
}

func (c *txSCCounters) snapshot() TxSCStats {
	return TxSCStats{c.pktsProtected.Load(), c.pktsEncrypted.Load(), c.octetsProtected.Load(), c.octetsEncrypted.Load()}
}

type txSACounters struct{ pktsProtected, pktsEncrypted atomic.Uint64 }

func (c *txSACounters) snapshot() TxSAStats {
	return TxSAStats{c.pktsProtected.Load(), c.pktsEncrypted.Load()}
}

type rxSCCounters struct {
	octetsValidated, octetsDecrypted, unchecked, delayed, ok atomic.Uint64
	invalid, late, notValid, notUsingSA, unusedSA            atomic.Uint64
}

func (c *rxSCCounters) snapshot() RxSCStats {
	return RxSCStats{
		InOctetsValidated: c.octetsValidated.Load(), InOctetsDecrypted: c.octetsDecrypted.Load(),
		InPktsUnchecked: c.unchecked.Load(), InPktsDelayed: c.delayed.Load(), InPktsOK: c.ok.Load(),
		InPktsInvalid: c.invalid.Load(), InPktsLate: c.late.Load(), InPktsNotValid: c.notValid.Load(),
		InPktsNotUsingSA: c.notUsingSA.Load(), InPktsUnusedSA: c.unusedSA.Load(),
	}
}

type rxSACounters struct{ ok, invalid, notValid, notUsingSA, unusedSA atomic.Uint64 }

func (c *rxSACounters) snapshot() RxSAStats {
	return RxSAStats{c.ok.Load(), c.invalid.Load(), c.notValid.Load(), c.notUsingSA.Load(), c.unusedSA.Load()}
}
