package macsec

// Status is a snapshot of a SecY: its SCs, SAs and counters, for display and
// for tests. Keys are shown only by their fingerprint.
type Status struct {
	Suite       CipherSuite
	SCI         SCI
	Operational bool
	EncodingSA  uint8
	Stats       SecYStats
	TxSC        TxSCStatus
	RxSCs       []RxSCStatus
}

// TxSCStatus describes the transmit SC.
type TxSCStatus struct {
	Stats TxSCStats
	SAs   []TxSAStatus
}

// TxSAStatus describes one transmit SA.
type TxSAStatus struct {
	AN          uint8
	Active      bool
	NextPN      uint64
	SSCI        SSCI
	Fingerprint string
	Stats       TxSAStats
}

// RxSCStatus describes one receive SC.
type RxSCStatus struct {
	SCI   SCI
	Stats RxSCStats
	SAs   []RxSAStatus
}

// RxSAStatus describes one receive SA.
type RxSAStatus struct {
	AN          uint8
	Active      bool
	NextPN      uint64
	LowestPN    uint64
	SSCI        SSCI
	Fingerprint string
	Stats       RxSAStats
}

// Status takes a snapshot. Counters are read one by one while traffic may
// flow, so they are each exact but not a single instant.
func (y *SecY) Status() Status {
	s := Status{
		Suite: y.cfg.Suite, SCI: y.cfg.SCI, Operational: y.Operational(),
		EncodingSA: y.EncodingSA(), Stats: y.stats.snapshot(),
		TxSC: TxSCStatus{Stats: y.tx.stats.snapshot()},
	}
	for an := range y.tx.sa {
		if sa := y.tx.sa[an].Load(); sa != nil {
			s.TxSC.SAs = append(s.TxSC.SAs, TxSAStatus{
				AN: sa.an, Active: sa.active.Load(), NextPN: sa.nextPN.Load(), SSCI: sa.ssci,
				Fingerprint: sa.fingerprint, Stats: sa.stats.snapshot(),
			})
		}
	}
	for _, sc := range *y.rxSCs.Load() {
		rs := RxSCStatus{SCI: sc.sci, Stats: sc.stats.snapshot()}
		for an := range sc.sa {
			if sa := sc.sa[an].Load(); sa != nil {
				next := sa.nextPN.Load()
				rs.SAs = append(rs.SAs, RxSAStatus{
					AN: sa.an, Active: sa.active.Load(), NextPN: next,
					LowestPN: lowestPN(next, y.cfg.ReplayWindow), SSCI: sa.ssci,
					Fingerprint: sa.fingerprint, Stats: sa.stats.snapshot(),
				})
			}
		}
		s.RxSCs = append(s.RxSCs, rs)
	}
	return s
}

// InPktsNoSA is the 802.1AE-2018 counter of frames delivered although no SA
// could validate them (Linux: InPktsUnknownSCI + InPktsUnusedSA).
func (s Status) InPktsNoSA() uint64 {
	n := s.Stats.InPktsUnknownSCI
	for _, sc := range s.RxSCs {
		n += sc.Stats.InPktsUnusedSA
	}
	return n
}

// InPktsNoSAError is the 802.1AE-2018 counter of frames discarded because no
// SA could validate them (Linux: InPktsNoSCI + InPktsNotUsingSA).
func (s Status) InPktsNoSAError() uint64 {
	n := s.Stats.InPktsNoSCI
	for _, sc := range s.RxSCs {
		n += sc.Stats.InPktsNotUsingSA
	}
	return n
}

// RxSC returns the status of the receive SC for sci.
func (s Status) RxSC(sci SCI) (RxSCStatus, bool) {
	for _, sc := range s.RxSCs {
		if sc.SCI == sci {
			return sc, true
		}
	}
	return RxSCStatus{}, false
}
