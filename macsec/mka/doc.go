// Package mka implements the MACsec Key Agreement protocol of IEEE 802.1X
// (clauses 9 and 11) with a static, pre-shared CAK — the "pre-shared key
// mode" that Azure ExpressRoute Direct supports.
//
// It derives the ICK and KEK from the CAK, encodes and decodes MKPDUs,
// elects a key server, distributes SAKs with AES Key Wrap and drives a
// SecY through make-before-break key installation, including the XPN salt
// and SSCI assignment of IEEE 802.1AE-2018 10.7.8.
//
// The package is pure: it performs no I/O of its own. Time is passed in by
// the caller (Participant.Tick, Participant.Receive), randomness comes from
// an injected io.Reader and MKPDUs leave through an injected send function,
// so a pair of participants can be run deterministically in simulated time.
package mka
