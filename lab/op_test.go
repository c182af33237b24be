package lab

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/topology"
)

func testTopology(t *testing.T) *topology.Topology {
	t.Helper()
	topo, err := topology.Builtin("expressroute-ipsec")
	require.NoError(t, err)
	return topo
}

func ptr[T any](v T) *T { return &v }

// Every operation goes over the wire and comes back the same.
func TestOpWireRoundTrip(t *testing.T) {
	d := value.Duration(5e6)
	l := value.Loss(0.01)
	r := value.Rate(100e6)
	for _, op := range []Op{
		&StatusOp{OfNode{"ce1"}}, &BGPOp{},
		&MACsecOp{Link: "link1", Node: "msee1", State: ptr(value.Switch(true)), Cipher: value.Cipher(macsec.GCMAESXPN128), SCI: ptr(value.Switch(false)), Key: value.KeySource{Generate: "k"}},
		&MACsecOp{Link: "link1", NewCAK: true},
		&RekeyOp{OnLink{"link1"}}, &CutOp{OnLink{"link1"}}, &RestoreOp{OnLink{"link2"}},
		&ImpairOp{Link: "link1", Delay: &d, Loss: &l, Rate: &r, Clear: true},
		&DrainOp{OnLink{"link1"}}, &UndrainOp{OnLink{"link1"}}, &BGPResetOp{Node: "ce1", Link: "link1"},
		&IPsecRekeyOp{Tunnel: "s2s", Node: "azure-vpngw"},
		&SAAddOp{Node: "azure-vpngw", SPI: 0x2001, Src: netip.MustParseAddr("172.16.1.1"), Dst: netip.MustParseAddr("172.16.2.1"), Dir: "out", KeyFile: "/k"},
		&SADeleteOp{Node: "azure-vpngw", SPI: 0x2001, Dst: netip.MustParseAddr("172.16.2.1")},
		&CaptureOp{Link: "link1", Side: "clear", Count: 3},
		&AdminStateOp{Link: "link1", State: false}, &AdminStateOp{Link: "link1", State: true},
		&RouteOp{Node: "ce1", Prefix: netip.MustParsePrefix("10.50.0.0/16"), Via: netip.MustParseAddr("192.168.100.130")},
	} {
		b, err := EncodeOp(op)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m), string(b))
		assert.Equal(t, op.Kind(), m["kind"])
		back, err := DecodeOp(b)
		require.NoError(t, err, string(b))
		assert.Equal(t, op, back, string(b))
		assert.NotEmpty(t, op.Describe())
	}
}

func TestDecodeOpStrict(t *testing.T) {
	for in, want := range map[string]string{
		`{"kind":"nope"}`:                              `unknown operation "nope"`,
		`{"link":"link1"}`:                             `no "kind"`,
		`{"kind":"cut","lnk":"link1"}`:                 `unknown field "lnk"`,
		`{"kind":"macsec","link":"l","sci":"Enabeld"}`: `"Enabeld": want Enabled or Disabled (on or off)`,
		`{"kind":"impair","link":"l","rate":"1bit"}`:   `"1bit" is not a rate`,
	} {
		_, err := DecodeOp([]byte(in))
		assert.ErrorContains(t, err, want, in)
	}
	op, err := DecodeOp([]byte(`{"kind":"macsec","link":"link1","sci":"enabled","cipher":"gcmaesxpn128"}`))
	require.NoError(t, err)
	assert.Equal(t, value.Switch(true), *op.(*MACsecOp).SCI)
	assert.Equal(t, "GcmAesXpn128", op.(*MACsecOp).Cipher.String())
}

func fieldOf(err error) []string {
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		if errors.As(e, &fe) {
			fields = append(fields, fe.Field)
		}
	}
	return fields
}

func TestOpCheck(t *testing.T) {
	topo := testTopology(t)
	big := value.Duration(1000 * 3600e9)
	neg := value.Duration(-5e6)
	for _, tt := range []struct {
		op     Op
		fields []string
	}{
		{&MACsecOp{Link: "link9"}, []string{"link", "state"}},
		{&MACsecOp{Link: "link1", Node: "ce2", NewCAK: true}, []string{"node"}},
		{&MACsecOp{Link: "link1", State: ptr(value.Switch(false)), NewCAK: true}, []string{"state"}},
		{&MACsecOp{Link: "link1", Key: value.KeySource{Generate: "k"}, NewCAK: true}, []string{"newCAK"}},
		{&MACsecOp{Link: "link1", Key: value.KeySource{File: "rel"}}, []string{"key"}},
		{&ImpairOp{Link: "link1", Delay: &big}, []string{"delay"}},
		{&ImpairOp{Link: "link1", Delay: &neg}, []string{"delay"}},
		{&ImpairOp{Link: "link1"}, []string{"link"}},
		{&CutOp{OnLink{""}}, []string{"link"}},
		{&CutOp{OnLink{"wan1"}}, []string{"link"}}, // a plain veth
		{&MACsecOp{Link: "wan1", NewCAK: true}, []string{"link"}},
		{&AdminStateOp{Link: "onprem"}, []string{"link"}},
		{&CaptureOp{Link: "vnetlan"}, []string{"link"}},
		{&IPsecRekeyOp{Tunnel: "s2s", Node: "ce1"}, []string{"node"}},
		{&IPsecRekeyOp{Tunnel: "nope"}, []string{"tunnel"}},
		{&SAAddOp{Node: "azure-vpngw", SPI: 5, Dir: "sideways"}, []string{"spi", "src", "dst", "dir", "keyFile"}},
		{&CaptureOp{Link: "link1", Side: "both"}, []string{"side"}},
		{&BGPResetOp{Node: "ce2", Link: "link1"}, []string{"node", "node"}},
		{&IPsecLifetimeOp{Tunnel: "s2s", Kilobytes: ptr(int64(1023))}, []string{"tunnel", "kilobytes"}},
		{&IPsecLifetimeOp{Tunnel: "s2s", Kilobytes: ptr(int64(1 << 31))}, []string{"tunnel", "kilobytes"}},
	} {
		err := tt.op.Check(topo)
		require.Error(t, err, "%#v", tt.op)
		assert.ElementsMatch(t, tt.fields, fieldOf(err), "%v", err)
	}
	for _, op := range []Op{&MACsecOp{Link: "link1", Node: "msee1", NewCAK: true}, &CutOp{OnLink{"link1"}}, &IPsecRekeyOp{Tunnel: "s2s"}} {
		assert.NoError(t, op.Check(topo))
	}
	// A peering's session is not a link: the error says which link to name.
	def, err := topology.Builtin("expressroute-direct")
	require.NoError(t, err)
	require.NoError(t, (&DrainOp{OnLink{"link1"}}).Check(def))
	assert.ErrorContains(t, (&DrainOp{OnLink{"link1.100"}}).Check(def), `"link1.100" is a BGP session on link link1, not a link: name the link (link1), which acts on every peering on it`)
	// A reset may name one peering's session of the node.
	require.NoError(t, (&BGPResetOp{Node: "msee1", Link: "link1.200"}).Check(def))
	assert.ErrorContains(t, (&BGPResetOp{Node: "msee1", Link: "link2.200"}).Check(def), "name the link (link2)")
	// A kilobyte lifetime alone is enough for an IKE-keyed tunnel.
	vpn, err := topology.Builtin("expressroute-vpngw")
	require.NoError(t, err)
	require.NoError(t, (&IPsecLifetimeOp{Tunnel: "s2s0", Kilobytes: ptr(int64(1024))}).Check(vpn))
	assert.Equal(t, "lifetimes of tunnel s2s0: Child SA 1024 KB", (&IPsecLifetimeOp{Tunnel: "s2s0", Kilobytes: ptr(int64(1024))}).Describe())
}

// A new CAK on both ends is one new CAK/CKN pair; the description says so.
func TestMACsecNewCAKDescribe(t *testing.T) {
	assert.Equal(t, "MACsec on link1: a new CAK/CKN, the same on both ends", (&MACsecOp{Link: "link1", NewCAK: true}).Describe())
	assert.Equal(t, "MACsec on link1 at ce1: a new CAK, same CKN", (&MACsecOp{Link: "link1", Node: "ce1", NewCAK: true}).Describe())
}

// The lab never takes a key name for a path: nothing is read or written
// outside its key directory (issue 12 item 3).
func TestGeneratedKeyNameIsAName(t *testing.T) {
	dir := t.TempDir()
	l := &Lab{cfg: LabConfig{KeyDir: filepath.Join(dir, "keys")}}
	for _, name := range []string{"../x", "../../../../" + dir + "/travkey", "a/b", ""} {
		_, err := l.generatedKey(name, macsec.GCMAESXPN256)
		require.Error(t, err, name)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
	_, err = l.generatedKey("cak-2", macsec.GCMAESXPN256)
	require.NoError(t, err)
}

// Operations travel the control socket as typed JSON; a refusal as bad input
// comes back as an *InvalidError, and a query's answer typed.
func TestControlSocketCarriesOps(t *testing.T) {
	topo := testTopology(t)
	path := filepath.Join(t.TempDir(), "ctl.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, &Lab{topo: topo}, path) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, func() bool { _, err := os.Lstat(path); return err == nil }, 5*time.Second, 5*time.Millisecond)
	c := &Client{Lab: topo.Name, Socket: path}

	st, err := c.StatusOf(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, topo.Name, st.Name)

	var inv *InvalidError
	err = c.Do(ctx, &CutOp{OnLink{"link9"}})
	require.ErrorAs(t, err, &inv)
	assert.Contains(t, err.Error(), `link: no link "link9"`)
	_, err = c.StatusOf(ctx, "nobody")
	require.ErrorAs(t, err, &inv)

	conn, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte(`{"kind":"macsec","link":"link1","sci":"Enabeld"}` + "\n"))
	require.NoError(t, err)
	err = decodeReply(conn, nil)
	require.ErrorAs(t, err, &inv)
	assert.Contains(t, err.Error(), `"Enabeld": want Enabled or Disabled (on or off)`)
}

// TestMACsecOpChecksKeyFile: a key file a MACsec change names is checked
// with the change, by the one rule (secret.LoadKey), so a scenario step or
// lab macsec set with a bad key is refused as bad input before anything
// changes: for the op's cipher, or without one for the longest CAK any
// cipher takes.
func TestMACsecOpChecksKeyFile(t *testing.T) {
	topo := testTopology(t)
	dir := t.TempDir()
	ckn := strings.Repeat("ab", 32)
	key := func(name, cak string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("CKN="+ckn+"\nCAK="+cak+"\n"), 0o600))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	full := key("full.psk", strings.Repeat("12", 32), 0o600)
	for name, tc := range map[string]struct {
		op   *MACsecOp
		want string
	}{
		"open":         {&MACsecOp{Link: "link1", Key: value.KeySource{File: key("open.psk", strings.Repeat("12", 32), 0o644)}}, "has mode 0644"},
		"odd":          {&MACsecOp{Link: "link1", Key: value.KeySource{File: key("odd.psk", "123", 0o600)}}, "odd number of hex digits"},
		"zero":         {&MACsecOp{Link: "link1", Key: value.KeySource{File: key("zero.psk", "0000", 0o600)}}, "all zeros"},
		"missing":      {&MACsecOp{Link: "link1", Key: value.KeySource{File: filepath.Join(dir, "nope.psk")}}, "does not exist"},
		"too long for": {&MACsecOp{Link: "link1", Cipher: value.Cipher(macsec.GCMAESXPN128), Key: value.KeySource{File: full}}, "GcmAesXpn128 takes 32"},
	} {
		err := tc.op.Check(topo)
		require.ErrorContains(t, err, tc.want, name)
		assert.Equal(t, []string{"key"}, fieldOf(err), name)
	}
	require.NoError(t, (&MACsecOp{Link: "link1", Key: value.KeySource{File: full}}).Check(topo))
	require.NoError(t, (&MACsecOp{Link: "link1", Cipher: value.Cipher(macsec.GCMAES256), Key: value.KeySource{File: full}}).Check(topo))
}

// On a 10 Gbps Direct port an XPN cipher is refused before anything
// changes, with the documentation's reason; on a 100 Gbps port it is
// accepted.
func TestMACsecOpXPNOn10GbpsPort(t *testing.T) {
	for _, gbps := range []int{10, 100} {
		topo, err := topology.Builtin("expressroute-direct")
		require.NoError(t, err)
		topo.ExpressRoutePorts[0].BandwidthGbps = gbps
		xpn := &MACsecOp{Link: "link2", Cipher: value.Cipher(macsec.GCMAESXPN128)}
		gcm := &MACsecOp{Link: "link2", Cipher: value.Cipher(macsec.GCMAES256)}
		require.NoError(t, gcm.Check(topo))
		if gbps == 100 {
			require.NoError(t, xpn.Check(topo))
			continue
		}
		err = xpn.Check(topo)
		require.ErrorContains(t, err, "cipher: GcmAesXpn128 on link link2: Azure does not support the XPN ciphers")
		assert.Equal(t, []string{"cipher"}, fieldOf(err))
	}
}

// TestRefusedReason: what the Microsoft peering's route filter says about
// each prefix it refuses.
func TestRefusedReason(t *testing.T) {
	adv := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	for _, c := range []struct{ prefix, want string }{
		{"10.1.0.0/16", "private: Microsoft peering carries only the public prefixes of advertisedPublicPrefixes (198.51.100.0/24)"},
		{"198.51.100.128/25", "more specific than the advertised public prefix 198.51.100.0/24: Microsoft peering accepts the configured prefixes exactly"},
		{"192.0.2.0/24", "not in the peering's advertisedPublicPrefixes (198.51.100.0/24)"},
	} {
		require.Equal(t, c.want, refusedReason(netip.MustParsePrefix(c.prefix), adv), c.prefix)
	}
}
