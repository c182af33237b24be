package mka

import "github.com/secylab/secylab/macsec"

// SecY is what the participant drives in a SecY: the transmit and receive
// SAs of 802.1AE 10.7. *macsec.SecY implements it.
type SecY interface {
	InstallTxSA(an uint8, k macsec.Key, nextPN uint64) error
	SetEncodingSA(an uint8) error
	DeleteTxSA(an uint8)
	TxSANextPN(an uint8) (uint64, bool)
	AddRxSC(sci macsec.SCI) error
	DeleteRxSC(sci macsec.SCI)
	InstallRxSA(sci macsec.SCI, an uint8, k macsec.Key, nextPN uint64) error
	DeleteRxSA(sci macsec.SCI, an uint8)
	RxSANextPN(sci macsec.SCI, an uint8) (uint64, bool)
}

var _ SecY = (*macsec.SecY)(nil)
