package ipsec

import (
	"bytes"
	"testing"
)

// FuzzOpen feeds arbitrary packets to inbound SAs of the vectors (ESN and
// not) and of a tunnel SA. Open must never panic, and must accept nothing
// but the genuine packets it was seeded with: any change to one of them
// must not get through.
func FuzzOpen(f *testing.F) {
	vs := loadVectors(f)
	genuine := map[string]bool{}
	inners := map[string]string{} // genuine tunnel packet → its inner packet
	for i, v := range vs {
		esp := v.esp(f)
		genuine[string(esp)] = true
		if v.Inner != "" {
			inners[string(esp)] = v.Inner
		}
		f.Add(esp, uint8(i))
	}
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, pkt []byte, which uint8) {
		v := vs[int(which)%len(vs)]
		sa := v.receiver(t)
		buf := make([]byte, Headroom+len(pkt))
		copy(buf[Headroom:], pkt)
		payload, _, r := sa.OpenPayload(buf, Headroom, len(pkt))
		if r == OK && !genuine[string(pkt)] {
			t.Fatalf("accepted a packet that is not genuine: %x", pkt)
		}
		if r != OK && payload != nil {
			t.Fatal("payload returned with a drop")
		}
		// The tunnel-mode path too.
		copy(buf[Headroom:], pkt)
		sa = v.receiver(t)
		inner, r := sa.Open(buf, Headroom, len(pkt))
		if r == OK && !bytes.Equal(inner, mustHex(t, inners[string(pkt)])) {
			t.Fatalf("Open accepted %x", pkt)
		}
	})
}
