package bgp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// FuzzSession feeds arbitrary bytes to an Established session. Whatever
// they are, the speaker must not panic, and if it ends the session its
// NOTIFICATION must carry a defined error code.
func FuzzSession(f *testing.F) {
	f.Add(serialize(bgp.NewBGPKeepAliveMessage()))
	f.Add(serialize(encodeReach(&Path{ASPath: ASPath{{ASNs: []uint32{65001}}}, NextHop: ce1Addr}, []netip.Prefix{onprem4}, false, true)[0]))
	f.Add(serialize(encodeReach(&Path{ASPath: ASPath{{ASNs: []uint32{65001}}}, NextHop: addr("2001:db8::1")}, []netip.Prefix{onprem6}, false, true)[0]))
	f.Add(serialize(encodeWithdraw([]netip.Prefix{onprem6})[0]))
	f.Add(serialize(bgpRouteRefresh(2, 1)))
	f.Add(append(header(30, msgUpdate), 0, 0, 0, 7, 0x80, 14, 4, 0, 2, 1, 99))
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, msee := edgeForRaw(t, nil)
		r := dialRaw(t, n, ce1Addr, msee1Addr)
		r.handshake(65001, 180, "9.9.9.1")
		go r.write(data)
		for {
			m, err := r.next(100 * time.Millisecond)
			if err != nil {
				break // timeout (the speaker waits for more) or closed
			}
			if nt, ok := m.Body.(*bgp.BGPNotification); ok {
				if nt.ErrorCode < 1 || nt.ErrorCode > 7 {
					t.Fatalf("NOTIFICATION with code %d", nt.ErrorCode)
				}
				break
			}
		}
		if _, err := msee.Status(); err != nil {
			t.Fatalf("speaker gone: %v", err)
		}
	})
}
