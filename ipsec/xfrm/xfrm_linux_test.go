package xfrm

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/ipsec"
)

var (
	gwA, gwB       = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	outerA, outerB = netip.MustParseAddr("192.168.77.1"), netip.MustParseAddr("192.168.77.2")
	netA, netB     = netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.50.0.0/16")
)

// testKey is KEYMAT of n octets, never used for anything real.
func testKey(n int) []byte { return bytes.Repeat([]byte{0x5a}, n) }

func TestXfrmState(t *testing.T) {
	key := testKey(36)
	st, err := xfrmState(ipsec.SAConfig{SPI: 0x1001, Src: gwA, Dst: gwB, ReqID: 7, Dir: ipsec.DirIn, KEYMAT: key,
		ReplayWindow: 128, ESN: true, Encap: ipsec.EncapUDP, Limits: ipsec.Limits{SoftPackets: 10, HardBytes: 99}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Proto != netlink.XFRM_PROTO_ESP || st.Mode != netlink.XFRM_MODE_TUNNEL || st.Spi != 0x1001 || st.Reqid != 7 ||
		!st.Src.Equal(net.ParseIP("192.0.2.1")) || !st.Dst.Equal(net.ParseIP("192.0.2.2")) || !st.ESN || st.ReplayWindow != 128 {
		t.Fatalf("state %+v", st)
	}
	if st.Aead == nil || st.Aead.Name != "rfc4106(gcm(aes))" || st.Aead.ICVLen != 128 || !bytes.Equal(st.Aead.Key, key) || st.Crypt != nil || st.Auth != nil {
		t.Fatalf("aead %+v", st.Aead)
	}
	if st.Encap == nil || st.Encap.Type != netlink.XFRM_ENCAP_ESPINUDP || st.Encap.SrcPort != 4500 || st.Encap.DstPort != 4500 {
		t.Fatalf("encap %+v", st.Encap)
	}
	if st.Limits.PacketSoft != 10 || st.Limits.ByteHard != 99 {
		t.Fatalf("limits %+v", st.Limits)
	}
	// AES-CBC with HMAC-SHA-256-128: enc and auth-trunc, as ip xfrm has them.
	cbc, err := xfrmState(ipsec.SAConfig{SPI: 0x1002, Src: gwA, Dst: gwB, Dir: ipsec.DirOut, KEYMAT: testKey(32), AuthKey: testKey(32), Cipher: ipsec.AESCBCHMACSHA256})
	if err != nil || cbc.Aead != nil || cbc.Crypt.Name != "cbc(aes)" || cbc.Auth.Name != "hmac(sha256)" || cbc.Auth.TruncateLen != 128 {
		t.Fatalf("cbc state %+v %v", cbc, err)
	}
	if back := stateFromXfrm(cbc); back.Config.Cipher != ipsec.AESCBCHMACSHA256 || back.Fingerprint == "" {
		t.Fatalf("cbc read back %+v", back)
	}
	if _, err := xfrmState(ipsec.SAConfig{SPI: 0, Src: gwA, Dst: gwB, Dir: ipsec.DirOut, KEYMAT: key}); err == nil {
		t.Fatal("SPI 0 accepted")
	}
	// Reading back keeps what matters.
	back := stateFromXfrm(st)
	if back.Config.SPI != 0x1001 || back.Config.Src != gwA || back.Config.Encap != ipsec.EncapUDP || back.Fingerprint != ipsec.Fingerprint(key) {
		t.Fatalf("back %+v", back)
	}
}

func TestXfrmPolicy(t *testing.T) {
	p := ipsec.Policy{Selector: ipsec.Selector{Src: netA, Dst: netB, Proto: 6, DstPort: 443}, Dir: ipsec.DirFwd, Priority: 5,
		Tmpl: ipsec.Template{Src: outerA, Dst: outerB, Mode: ipsec.ModeTunnel, ReqID: 3}}
	xp := xfrmPolicy(p)
	if xp.Dir != netlink.XFRM_DIR_FWD || xp.Src.String() != "10.1.0.0/16" || xp.Dst.String() != "10.50.0.0/16" ||
		xp.Proto != 6 || xp.DstPort != 443 || xp.Priority != 5 || xp.Action != netlink.XFRM_POLICY_ALLOW || len(xp.Tmpls) != 1 {
		t.Fatalf("policy %+v", xp)
	}
	tm := xp.Tmpls[0]
	if !tm.Src.Equal(net.IP(outerA.AsSlice())) || tm.Proto != netlink.XFRM_PROTO_ESP || tm.Mode != netlink.XFRM_MODE_TUNNEL || tm.Reqid != 3 {
		t.Fatalf("tmpl %+v", tm)
	}
	if back := policyFromXfrm(xp); back != p {
		t.Fatalf("back %+v", back)
	}
	if xfrmPolicy(ipsec.Policy{Selector: p.Selector, Dir: ipsec.DirOut, Action: ipsec.ActionDiscard}).Action != netlink.XFRM_POLICY_BLOCK {
		t.Fatal("discard is not block")
	}
}

// TestKernelBackend programs a real kernel: policies work everywhere
// xfrm does; states only where the kernel has ESP and GCM.
func TestKernelBackend(t *testing.T) {
	nettest.NeedRoot(t)
	ns := nettest.Namespace(t, "ipx")
	k, err := New(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	// A tunnel gateway's policies: out, and in and fwd.
	out := ipsec.Template{Src: outerA, Dst: outerB, Mode: ipsec.ModeTunnel, ReqID: 1}
	in := ipsec.Template{Src: outerB, Dst: outerA, Mode: ipsec.ModeTunnel, ReqID: 1}
	for _, p := range []ipsec.Policy{
		{Selector: ipsec.Selector{Src: netA, Dst: netB}, Dir: ipsec.DirOut, Action: ipsec.ActionProtect, Tmpl: out},
		{Selector: ipsec.Selector{Src: netB, Dst: netA}, Dir: ipsec.DirIn, Action: ipsec.ActionProtect, Tmpl: in},
		{Selector: ipsec.Selector{Src: netB, Dst: netA}, Dir: ipsec.DirFwd, Action: ipsec.ActionProtect, Tmpl: in},
	} {
		if err := k.AddPolicy(p); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := k.Policies()
	if err != nil || len(ps) != 3 {
		t.Fatalf("%d policies, %v", len(ps), err)
	}
	var b strings.Builder
	ipsec.WritePolicies(&b, ps)
	if !strings.Contains(b.String(), "dir fwd") || !strings.Contains(b.String(), "tmpl src 192.168.77.2 dst 192.168.77.1") {
		t.Fatalf("policies:\n%s", b.String())
	}
	if !Probe().Kernel {
		err := k.AddSA(ipsec.SAConfig{SPI: 0x1001, Src: outerA, Dst: outerB, Dir: ipsec.DirOut, KEYMAT: testKey(20)})
		t.Skipf("the kernel has no AES-GCM ESP here, states cannot be tested: %v", err)
	}
	sa := ipsec.SAConfig{SPI: 0x1001, Src: outerA, Dst: outerB, ReqID: 1, Dir: ipsec.DirOut, KEYMAT: testKey(36), Encap: ipsec.EncapUDP, ESN: true, ReplayWindow: 64}
	if err := k.AddSA(sa); err != nil {
		t.Fatal(err)
	}
	st, err := k.States()
	if err != nil || len(st) != 1 || st[0].Config.SPI != 0x1001 || !st[0].Config.ESN || st[0].Fingerprint != ipsec.Fingerprint(sa.KEYMAT) {
		t.Fatalf("states %+v %v", st, err)
	}
	if err := k.DelSA(0x1001, outerB); err != nil {
		t.Fatal(err)
	}
}
