package ipsec

import "sync/atomic"

// SAStats are an SA's counters, those `ip -s xfrm state` shows and the
// drops it does not break down.
type SAStats struct {
	Packets uint64 // packets sealed or opened
	Bytes   uint64 // octets of inner packets sealed or opened
	// The xfrm "stats:" line.
	ReplayWindow    uint64 // inbound, dropped: SN left of the window (too old)
	Replay          uint64 // inbound, dropped: SN already seen (duplicate)
	IntegrityFailed uint64 // inbound, dropped: the ICV did not verify
	// Further drops and events.
	BadPadding    uint64 // inbound, dropped: pad length or pad bytes wrong
	BadNextHeader uint64 // inbound, dropped: not IPv4, IPv6 or dummy, or not matching the inner packet
	Dummy         uint64 // inbound, discarded silently: next header 59
	Malformed     uint64 // inbound, dropped: too short to be ESP with this SA
	Expired       uint64 // dropped because the SA stopped (limit or SN overflow)
	SoftExpired   bool   // the soft-expire event was raised
}

type saCounters struct {
	packets, bytes                          atomic.Uint64
	replayWindow, replay, integrityFailed   atomic.Uint64
	badPadding, badNextHeader, dummy, short atomic.Uint64
	expired                                 atomic.Uint64
	softExpired                             atomic.Bool
}

// Stats returns a snapshot of the SA's counters.
func (sa *SA) Stats() SAStats {
	c := &sa.stats
	return SAStats{
		Packets: c.packets.Load(), Bytes: c.bytes.Load(),
		ReplayWindow: c.replayWindow.Load(), Replay: c.replay.Load(), IntegrityFailed: c.integrityFailed.Load(),
		BadPadding: c.badPadding.Load(), BadNextHeader: c.badNextHeader.Load(), Dummy: c.dummy.Load(),
		Malformed: c.short.Load(), Expired: c.expired.Load(), SoftExpired: c.softExpired.Load(),
	}
}
