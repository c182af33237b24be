package mka

import "github.com/secylab/secylab/macsec"

// Counters count what a participant sent, received, dropped and installed.
// The Rx drop counters say why an MKPDU was discarded.
type Counters struct {
	TxMKPDUs uint64 // MKPDUs sent
	RxMKPDUs uint64 // MKPDUs accepted: our CKN, valid ICV, fresh MN

	RxNotMKPDU   uint64 // frames that are not EAPOL-MKA (ignored)
	RxMalformed  uint64 // bad lengths or fields
	RxUnknownCKN uint64 // a CKN we do not hold
	RxBadAgility uint64 // an Algorithm Agility other than 0x0080C201
	RxBadICV     uint64 // ICV check failed: a different CAK, or altered
	RxStaleMN    uint64 // MN not above the last one seen from that MI (replay)
	RxOwnMI      uint64 // our own MKPDU looped back, or an MI collision

	RxBadSAK         uint64 // a Distributed SAK that fails to unwrap or has the wrong length
	RxBadCipherSuite uint64 // a Distributed SAK for a cipher suite we are not configured for

	SAKsGenerated  uint64 // SAKs made as key server
	SAKsInstalled  uint64 // SAKs installed in the SecY (receive SAs, then transmit)
	SAKsRetired    uint64 // old SAKs deleted after the retire time
	TxKeySwitches  uint64 // times the encoding SA moved to a new SAK
	Rekeys         uint64 // SAKs generated to replace one in use
	PNRekeys       uint64 // of which because the PN neared exhaustion
	PeersExpired   uint64 // peers dropped after the MKA life time
	PeersRestarted uint64 // peers replaced by a new MI from the same SCI
	ChannelDowns   uint64 // times the last live peer went and the SAs were deleted
	SecYErrors     uint64 // SecY calls that failed
}

// Counters lists the participant's counters, in declaration order.
func (c Counters) Counters() []macsec.Counter {
	return []macsec.Counter{
		{Name: "TxMKPDUs", Value: c.TxMKPDUs},
		{Name: "RxMKPDUs", Value: c.RxMKPDUs},
		{Name: "RxNotMKPDU", Value: c.RxNotMKPDU},
		{Name: "RxMalformed", Value: c.RxMalformed},
		{Name: "RxUnknownCKN", Value: c.RxUnknownCKN},
		{Name: "RxBadAgility", Value: c.RxBadAgility},
		{Name: "RxBadICV", Value: c.RxBadICV},
		{Name: "RxStaleMN", Value: c.RxStaleMN},
		{Name: "RxOwnMI", Value: c.RxOwnMI},
		{Name: "RxBadSAK", Value: c.RxBadSAK},
		{Name: "RxBadCipherSuite", Value: c.RxBadCipherSuite},
		{Name: "SAKsGenerated", Value: c.SAKsGenerated},
		{Name: "SAKsInstalled", Value: c.SAKsInstalled},
		{Name: "SAKsRetired", Value: c.SAKsRetired},
		{Name: "TxKeySwitches", Value: c.TxKeySwitches},
		{Name: "Rekeys", Value: c.Rekeys},
		{Name: "PNRekeys", Value: c.PNRekeys},
		{Name: "PeersExpired", Value: c.PeersExpired},
		{Name: "PeersRestarted", Value: c.PeersRestarted},
		{Name: "ChannelDowns", Value: c.ChannelDowns},
		{Name: "SecYErrors", Value: c.SecYErrors},
	}
}
