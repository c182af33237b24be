package ipsec

// replayWindow is the anti-replay window of RFC 4303 §3.4.3 as a ring of
// bits (RFC 6479): the bit of SN s is s mod (64·len(bits)). The ring is
// at least one word wider than the window, so that moving the right edge
// clears whole words ahead of it and never a bit still inside the window.
type replayWindow struct {
	size uint64   // W, in packets; 0: anti-replay off
	top  uint64   // T: the highest SN validated
	bits []uint64 // len is a power of two
}

func (w *replayWindow) init(size, top uint64) {
	w.size, w.top = size, top
	if size == 0 {
		return
	}
	words := uint64(1)
	for words*64 < size+64 {
		words <<= 1
	}
	w.bits = make([]uint64, words)
}

// check is the pre-check on an SN before the ICV is verified: 0 if the SN
// may be new, else the result that drops it.
func (w *replayWindow) check(sn uint64) Result {
	if w.size == 0 || sn > w.top {
		return OK
	}
	if w.top-sn >= w.size {
		return ReplayOld
	}
	bit := sn & (uint64(len(w.bits))*64 - 1)
	if w.bits[bit>>6]&(1<<(bit&63)) != 0 {
		return ReplayDuplicate
	}
	return OK
}

// update records a validated SN, moving the window right if it is the
// new highest. It checks again, for a duplicate that raced the first
// copy through the ICV check.
func (w *replayWindow) update(sn uint64) Result {
	if r := w.check(sn); r != OK {
		return r
	}
	if w.size == 0 {
		w.top = max(w.top, sn)
		return OK
	}
	mask := uint64(len(w.bits)) - 1
	if sn > w.top {
		cur, next := w.top>>6, sn>>6
		n := min(next-cur, uint64(len(w.bits)))
		for i := uint64(1); i <= n; i++ {
			w.bits[(cur+i)&mask] = 0
		}
		w.top = sn
	}
	bit := sn & (uint64(len(w.bits))*64 - 1)
	w.bits[bit>>6] |= 1 << (bit & 63)
	return OK
}
