package bgp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/secylab/secylab/clock"
)

// edgeForRaw starts a Microsoft edge speaker that waits for a raw peer at ce1Addr.
func edgeForRaw(t *testing.T, mod func(*Config)) (*memNet, *node) {
	n := newMemNet()
	cfg := mseeConfig(msee1Addr, ce1Addr, "1.1.1.1")
	cfg.Neighbors[0].Passive = true
	if mod != nil {
		mod(&cfg)
	}
	return n, startNode(t, n, msee1Addr, cfg)
}

func TestMaxPrefixCease(t *testing.T) {
	n, msee := edgeForRaw(t, func(c *Config) { c.Neighbors[0].MaxPrefix = MaxPrefix{IPv4: 4000, IPv6: 100} })
	r := dialRaw(t, n, ce1Addr, msee1Addr)
	r.handshake(65001, 180, "9.9.9.1")
	prefixes := make([]netip.Prefix, 4001)
	for i := range prefixes {
		prefixes[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
	}
	tmpl := &Path{ASPath: ASPath{{ASNs: []uint32{65001}}}, NextHop: ce1Addr}
	go func() {
		// 4,000 are fine; the 4,001st crosses the limit.
		for _, m := range encodeReach(tmpl, prefixes[:4000], false, true) {
			r.write(serialize(m))
		}
		for _, m := range encodeReach(tmpl, prefixes[4000:], false, true) {
			r.write(serialize(m))
		}
	}()
	got := r.expectNotification(5 * time.Second)
	if got.ErrorCode != CodeCease || got.ErrorSubcode != CeaseMaxPrefixes {
		t.Fatalf("NOTIFICATION %d/%d, want Cease / Maximum Number of Prefixes Reached", got.ErrorCode, got.ErrorSubcode)
	}
	if want := maxPrefixData(IPv4Unicast, 4000); !bytes.Equal(got.Data, want) {
		t.Errorf("data %x, want AFI/SAFI/limit %x (RFC 4486)", got.Data, want)
	}
	eventually(t, "held down", time.Second, func() bool {
		st := msee.neighbor(t, ce1Addr)
		return st.State == Idle && st.HeldDown
	})
	st := msee.neighbor(t, ce1Addr)
	if st.LastSent == nil || st.LastSent.SubcodeName() != "Maximum Number of Prefixes Reached" {
		t.Errorf("last sent %v", st.LastSent)
	}
	if _, ok := msee.fib.get(prefixes[0]); ok {
		t.Error("routes of the dropped session stay in the FIB")
	}
	// Held down: a new connection is refused until Reset.
	r2 := dialRaw(t, n, ce1Addr, msee1Addr)
	if _, err := r2.next(200 * time.Millisecond); err == nil {
		t.Error("held-down neighbour answered")
	}
	if err := msee.Reset(ce1Addr); err != nil {
		t.Fatal(err)
	}
	r3 := dialRaw(t, n, ce1Addr, msee1Addr)
	r3.handshake(65001, 180, "9.9.9.1")
}

func TestMaxPrefixRestartTimer(t *testing.T) {
	clk := clock.NewManual(time.Unix(1e9, 0))
	n, msee := edgeForRaw(t, func(c *Config) {
		c.Clock = clk
		c.Neighbors[0].MaxPrefix = MaxPrefix{IPv6: 1, Restart: 5 * time.Minute}
	})
	r := dialRaw(t, n, ce1Addr, msee1Addr)
	r.handshake(65001, 180, "9.9.9.1")
	tmpl := &Path{ASPath: ASPath{{ASNs: []uint32{65001}}}, NextHop: addr("2001:db8::1")}
	for _, m := range encodeReach(tmpl, []netip.Prefix{pfx("2001:db8:1::/48"), pfx("2001:db8:2::/48")}, false, true) {
		r.send(m)
	}
	if got := r.expectNotification(2 * time.Second); got.ErrorSubcode != CeaseMaxPrefixes {
		t.Fatalf("subcode %d", got.ErrorSubcode)
	}
	eventually(t, "held down", time.Second, func() bool { return msee.neighbor(t, ce1Addr).HeldDown })
	clk.Advance(5*time.Minute + time.Second)
	eventually(t, "released", time.Second, func() bool { return !msee.neighbor(t, ce1Addr).HeldDown })
}

func TestHoldTimerExpiry(t *testing.T) {
	clk := clock.NewManual(time.Unix(1e9, 0))
	n, msee := edgeForRaw(t, func(c *Config) { c.Clock = clk })
	r := dialRaw(t, n, ce1Addr, msee1Addr)
	r.handshake(65001, 9, "9.9.9.1") // the lab's 9 s hold; the lower offer wins
	msee.waitState(t, ce1Addr, Established)
	if st := msee.neighbor(t, ce1Addr); st.HoldTime != 9*time.Second || st.KeepaliveTime != 3*time.Second {
		t.Fatalf("negotiated %v/%v, want 9s/3s", st.HoldTime, st.KeepaliveTime)
	}
	// The raw peer now goes silent. Keepalives flow from the speaker
	// every 3 s; at 9 s the hold timer expires.
	go func() {
		for {
			if _, err := r.next(5 * time.Second); err != nil {
				return
			}
		}
	}()
	clk.Advance(8 * time.Second)
	time.Sleep(50 * time.Millisecond)
	if st := msee.neighbor(t, ce1Addr); st.State != Established {
		t.Fatalf("dropped before the hold time: %v", st.State)
	}
	clk.Advance(2 * time.Second)
	eventually(t, "hold timer expiry", time.Second, func() bool {
		st := msee.neighbor(t, ce1Addr)
		return st.LastSent != nil && st.LastSent.Code == CodeHoldTimer
	})
}

func header(n int, typ byte) []byte {
	b := bytes.Repeat([]byte{0xff}, 16)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	return append(b, typ)
}

func openBytes(version byte, asn uint16, hold uint16, id [4]byte) []byte {
	body := []byte{version}
	body = binary.BigEndian.AppendUint16(body, asn)
	body = binary.BigEndian.AppendUint16(body, hold)
	body = append(body, id[:]...)
	body = append(body, 0)
	return append(header(19+len(body), msgOpen), body...)
}

func TestMalformedMessages(t *testing.T) {
	keepalive := serialize(bgp.NewBGPKeepAliveMessage())
	badMarker := append([]byte(nil), keepalive...)
	badMarker[3] = 0
	origin5 := serialize(bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0), bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(2, []uint32{65001})}),
		bgp.NewPathAttributeNextHop("192.168.100.129")}, []*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(16, "10.1.0.0")}))
	for _, tc := range []struct {
		name          string
		afterOpen     bool // send after the OPEN exchange
		msg           []byte
		code, subcode uint8
	}{
		{"bad marker", false, badMarker, 1, 1},
		{"length below 19", false, header(18, msgKeepalive), 1, 2},
		{"length above 4096", false, header(4097, msgUpdate), 1, 2},
		{"KEEPALIVE of 20 bytes", true, append(header(20, msgKeepalive), 0), 1, 2},
		{"unknown type 9", false, header(19, 9), 1, 3},
		{"OPEN version 3", false, openBytes(3, 65001, 180, [4]byte{9, 9, 9, 1}), 2, 1},
		{"OPEN bad peer AS", false, openBytes(4, 65002, 180, [4]byte{9, 9, 9, 1}), 2, 2},
		{"OPEN hold time 2", false, openBytes(4, 65001, 2, [4]byte{9, 9, 9, 1}), 2, 6},
		{"OPEN BGP identifier 0", false, openBytes(4, 65001, 180, [4]byte{}), 2, 3},
		{"UPDATE withdrawn length past the end", true, append(header(23, msgUpdate), 0, 9, 0, 0), 3, 1},
		// RFC 4271 would say Invalid Network Field; GoBGP's codec says Malformed Attribute List.
		{"UPDATE NLRI prefix length 33", true, append(header(25, msgUpdate), 0, 0, 0, 0, 33, 10), 3, 1},
		{"UPDATE MP_REACH_NLRI garbage", true, append(header(30, msgUpdate), 0, 0, 0, 7, 0x80, 14, 4, 0, 2, 1, 99), 3, 5},
		{"second OPEN in Established", true, openBytes(4, 65001, 180, [4]byte{9, 9, 9, 1}), 5, 3},
		{"UPDATE before Established", false, origin5, 5, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, msee := edgeForRaw(t, nil)
			r := dialRaw(t, n, ce1Addr, msee1Addr)
			if tc.afterOpen {
				r.handshake(65001, 180, "9.9.9.1")
			}
			go r.write(tc.msg) // net.Pipe: the speaker may not read it all
			got := r.expectNotification(2 * time.Second)
			if got.ErrorCode != tc.code || got.ErrorSubcode != tc.subcode {
				nt := Notification{Code: got.ErrorCode, Subcode: got.ErrorSubcode}
				t.Errorf("NOTIFICATION %d/%d (%v), want %d/%d", got.ErrorCode, got.ErrorSubcode, nt.String(), tc.code, tc.subcode)
			}
			eventually(t, "session down", time.Second, func() bool { return msee.neighbor(t, ce1Addr).State != Established })
		})
	}
}

// RFC 7606: an invalid ORIGIN is treat-as-withdraw; the session stays.
func TestTreatAsWithdraw(t *testing.T) {
	n, msee := edgeForRaw(t, nil)
	r := dialRaw(t, n, ce1Addr, msee1Addr)
	r.handshake(65001, 180, "9.9.9.1")
	good := &Path{ASPath: ASPath{{ASNs: []uint32{65001}}}, NextHop: ce1Addr}
	for _, m := range encodeReach(good, []netip.Prefix{onprem4}, false, true) {
		r.send(m)
	}
	eventually(t, "route", time.Second, func() bool { _, ok := msee.fib.get(onprem4); return ok })
	bad := serialize(encodeReach(good, []netip.Prefix{onprem4}, false, true)[0])
	i := bytes.Index(bad, []byte{0x40, 1, 1, 0}) // ORIGIN IGP
	bad[i+3] = 7
	r.write(bad)
	eventually(t, "route withdrawn", time.Second, func() bool { _, ok := msee.fib.get(onprem4); return !ok })
	if st := msee.neighbor(t, ce1Addr); st.State != Established {
		t.Errorf("state %v, want the session kept", st.State)
	}
}

func TestNotificationNames(t *testing.T) {
	for _, tc := range []struct {
		n    Notification
		want string
	}{
		{Notification{Code: 6, Subcode: 1}, "Cease / Maximum Number of Prefixes Reached"},
		{Notification{Code: 6, Subcode: 2}, "Cease / Administrative Shutdown"},
		{Notification{Code: 2, Subcode: 2, Data: []byte{0xfd, 0xe9}}, "OPEN Message Error / Bad Peer AS (data fde9)"},
		{Notification{Code: 4}, "Hold Timer Expired / subcode 0"},
	} {
		if got := tc.n.String(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.n, got, tc.want)
		}
	}
	_ = fmt.Sprint
}

func TestShutdownSendsAdministrativeShutdown(t *testing.T) {
	n, msee := edgeForRaw(t, nil)
	r := dialRaw(t, n, ce1Addr, msee1Addr)
	r.handshake(65001, 180, "9.9.9.1")
	msee.waitState(t, ce1Addr, Established)
	go msee.stop()
	got := r.expectNotification(2 * time.Second)
	if got.ErrorCode != CodeCease || got.ErrorSubcode != CeaseAdminShutdown {
		t.Errorf("NOTIFICATION %d/%d, want Cease / Administrative Shutdown", got.ErrorCode, got.ErrorSubcode)
	}
}
