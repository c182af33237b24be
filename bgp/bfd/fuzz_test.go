package bfd

import (
	"testing"
	"time"
)

// FuzzParse feeds arbitrary datagrams to the Control packet decoder: it
// never panics, and what it accepts passes RFC 5880 §6.8.6's checks and
// encodes back to a packet that decodes the same.
func FuzzParse(f *testing.F) {
	for _, c := range []Control{
		{State: Down, DetectMult: 3, MyDiscr: 1, DesiredMinTx: time.Second, RequiredMinRx: 300 * time.Millisecond},
		{State: Up, Poll: true, DetectMult: 3, MyDiscr: 7, YourDiscr: 9, DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond},
		{State: Init, Final: true, Diag: 1, DetectMult: 255, MyDiscr: 0xFFFFFFFF, YourDiscr: 1},
	} {
		f.Add(c.Append(nil))
	}
	f.Add(make([]byte, controlLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		if c.Version != protoVersion || c.DetectMult == 0 || c.Multipoint || c.MyDiscr == 0 || c.Auth ||
			int(c.Length) < controlLen || int(c.Length) > len(b) {
			t.Fatalf("accepted a packet RFC 5880 §6.8.6 discards: %+v", c)
		}
		again, err := Parse(c.Append(nil))
		if err != nil {
			t.Fatalf("re-encoded packet refused: %v", err)
		}
		want := *c
		want.Length = controlLen // Append writes the mandatory section only
		if *again != want {
			t.Fatalf("round trip changed the packet:\n%+v\n%+v", want, *again)
		}
	})
}
