package ipsec

import "testing"

// Swap replaces the outbound SA of a reqid in one step: before it the old
// SA is found, after it the new one, never none; the inbound SAs stay.
func TestSADSwap(t *testing.T) {
	var d SAD
	mk := func(spi uint32, dir Direction) *SA {
		sa, err := NewSA(SAConfig{SPI: spi, Src: gwA, Dst: gwB, Dir: dir, ReqID: 1, KEYMAT: keymat(20), ReplayWindow: 64})
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	old, in := mk(0x1000, DirOut), mk(0x2000, DirIn)
	for _, sa := range []*SA{old, in} {
		if err := d.Add(sa); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Add(mk(0x1001, DirOut)); err == nil {
		t.Fatal("a second outbound SA for a reqid was added")
	}
	next := mk(0x1001, DirOut)
	prev, err := d.Swap(next)
	if err != nil || prev != old || d.Outbound(1) != next || d.Inbound(0x2000, gwB, gwA) != in || len(d.List()) != 2 {
		t.Fatalf("swap: prev %v err %v", prev, err)
	}
	if _, err := d.Swap(mk(0x2001, DirIn)); err == nil {
		t.Fatal("an inbound SA swapped")
	}
	if _, err := d.Swap(mk(0x1001, DirOut)); err != nil {
		t.Fatalf("swap with the same SPI as the one replaced: %v", err)
	}
}
