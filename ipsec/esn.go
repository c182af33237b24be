package ipsec

// inferSN reconstructs the 64-bit SN of a received packet from its low
// 32 bits, the highest SN validated so far (top) and the window size, as
// in RFC 4303 Appendix A2.1: a packet is placed in the epoch that puts it
// inside or to the right of the window. ok is false for an SN that would
// belong before the first epoch.
func inferSN(top uint64, window uint64, seql uint32) (sn uint64, ok bool) {
	th, tl := uint32(top>>32), uint32(top)
	w := uint32(max(window, 1))
	bl := tl - w + 1 // the bottom of the window, mod 2^32
	var sh uint32
	if tl >= w-1 { // case A: the window sits inside one epoch
		sh = th
		if seql < bl {
			sh = th + 1
			if sh == 0 {
				return 0, false // past 2^64
			}
		}
	} else { // case B: the window spans the previous epoch
		sh = th
		if seql >= bl {
			if th == 0 {
				return 0, false
			}
			sh = th - 1
		}
	}
	return uint64(sh)<<32 | uint64(seql), true
}
