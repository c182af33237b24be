package macsec

// Counter is one counter by its MIB name (802.1AE's, as Linux spells it;
// see stats.go) and its value. The Counters methods of the stats types
// list every counter in the order the types declare them, so readers
// (scenario assertions, the CLI, reports) need no reflection.
type Counter struct {
	Name  string
	Value uint64
}

// Counters lists the SecY's counters.
func (s SecYStats) Counters() []Counter {
	return []Counter{
		{"OutPktsUntagged", s.OutPktsUntagged},
		{"OutPktsTooLong", s.OutPktsTooLong},
		{"OutPktsNoSA", s.OutPktsNoSA},
		{"InPktsUntagged", s.InPktsUntagged},
		{"InPktsNoTag", s.InPktsNoTag},
		{"InPktsBadTag", s.InPktsBadTag},
		{"InPktsUnknownSCI", s.InPktsUnknownSCI},
		{"InPktsNoSCI", s.InPktsNoSCI},
		{"InPktsOverrun", s.InPktsOverrun},
	}
}

// Counters lists the transmit SC's counters.
func (s TxSCStats) Counters() []Counter {
	return []Counter{
		{"OutPktsProtected", s.OutPktsProtected},
		{"OutPktsEncrypted", s.OutPktsEncrypted},
		{"OutOctetsProtected", s.OutOctetsProtected},
		{"OutOctetsEncrypted", s.OutOctetsEncrypted},
	}
}

// Counters lists a transmit SA's counters.
func (s TxSAStats) Counters() []Counter {
	return []Counter{
		{"OutPktsProtected", s.OutPktsProtected},
		{"OutPktsEncrypted", s.OutPktsEncrypted},
	}
}

// Counters lists a receive SC's counters.
func (s RxSCStats) Counters() []Counter {
	return []Counter{
		{"InOctetsValidated", s.InOctetsValidated},
		{"InOctetsDecrypted", s.InOctetsDecrypted},
		{"InPktsUnchecked", s.InPktsUnchecked},
		{"InPktsDelayed", s.InPktsDelayed},
		{"InPktsOK", s.InPktsOK},
		{"InPktsInvalid", s.InPktsInvalid},
		{"InPktsLate", s.InPktsLate},
		{"InPktsNotValid", s.InPktsNotValid},
		{"InPktsNotUsingSA", s.InPktsNotUsingSA},
		{"InPktsUnusedSA", s.InPktsUnusedSA},
	}
}

// Counters lists a receive SA's counters.
func (s RxSAStats) Counters() []Counter {
	return []Counter{
		{"InPktsOK", s.InPktsOK},
		{"InPktsInvalid", s.InPktsInvalid},
		{"InPktsNotValid", s.InPktsNotValid},
		{"InPktsNotUsingSA", s.InPktsNotUsingSA},
		{"InPktsUnusedSA", s.InPktsUnusedSA},
	}
}
