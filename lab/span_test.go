package lab

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
	"github.com/secylab/secylab/topology"
)

// twoHosts is lab/testdata/er-two-hosts.yaml, with a key file, and an
// external node (a router the lab does not run) on a third link.
func twoHosts(t *testing.T) *topology.Topology {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "er-two-hosts.yaml"))
	require.NoError(t, err)
	s := strings.ReplaceAll(string(data), "secret: KEY", "secret: "+writeKey(t, "er.key"))
	s = strings.Replace(s, "  vnet-host:\n", `  probe:
    kind: external
    ports:
      p1: {kind: ethernet, interface: tap-probe, addresses: [10.50.2.2/24]}
  vnet-host:
`, 1)
	s = strings.Replace(s, "      vnet2: {kind: ethernet, addresses: [10.50.1.10/24]}\n", "      vnet2: {kind: ethernet, addresses: [10.50.1.10/24]}\n      p: {kind: ethernet, addresses: [10.50.2.1/24]}\n", 1)
	s += "  - name: tap\n    endpoints: [vnet-host:p, probe:p1]\n"
	topo, err := topology.Parse(filepath.Join(t.TempDir(), "er-two-hosts.yaml"), []byte(s))
	require.NoError(t, err)
	return topo
}

// Each operation goes to the half that runs what it names; a node that
// runs on no host, or on a host whose half is not in the run, is refused
// before anything is sent.
func TestSpanRoutes(t *testing.T) {
	topo := twoHosts(t)
	cust, ms := &Half{Host: "cust", Client: &Client{}}, &Half{Host: "ms", Client: &Client{}}
	s := &Span{Whole: topo, Halves: []*Half{cust, ms}}
	hosts := func(op Op) (hs []string, nodes []string) {
		t.Helper()
		ts, err := s.route(op)
		require.NoError(t, err, "%s", op.Describe())
		for _, tg := range ts {
			hs = append(hs, tg.half.Host)
			if m, ok := tg.op.(*MACsecOp); ok {
				nodes = append(nodes, m.Node)
			}
		}
		return hs, nodes
	}
	on := value.Switch(true)
	for _, c := range []struct {
		op    Op
		hosts []string
		nodes []string
	}{
		{&MACsecOp{Link: "link1", Node: "msee1", State: &on}, []string{"ms"}, []string{"msee1"}},
		// Both ends of a link across hosts: each half changes its own end.
		{&MACsecOp{Link: "link1", Key: value.KeySource{Generate: "cak-2"}}, []string{"cust", "ms"}, []string{"ce1", "msee1"}},
		{&CutOp{OnLink{"link2"}}, []string{"cust", "ms"}, nil},
		{&CutOp{OnLink{"vnet1"}}, []string{"ms"}, nil},
		// A drain is the customer router's BGP policy.
		{&DrainOp{OnLink{"link1"}}, []string{"cust"}, nil},
		{&ExecOp{Node: "vnet-host", Command: "true"}, []string{"ms"}, nil},
		{&CaptureOp{Link: "link1"}, []string{"cust"}, nil},
		{&StatusOp{}, []string{"cust"}, nil},
	} {
		hs, nodes := hosts(c.op)
		assert.Equal(t, c.hosts, hs, c.op.Describe())
		assert.Equal(t, c.nodes, nodes, c.op.Describe())
	}

	_, err := s.route(&ExecOp{Node: "probe", Command: "true"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "node probe runs on no host of the lab: it is an external device (kind external) the lab does not run")
	var inv *InvalidError
	assert.ErrorAs(t, err, &inv)

	_, err = s.route(&MACsecOp{Link: "link1", NewCAK: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "newCAK on both ends of link link1, whose ends run on two hosts")

	// The far half not in the run.
	s.Halves = []*Half{cust}
	_, err = s.route(&MACsecOp{Link: "link1", Node: "msee1", State: &on})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "node msee1 runs on host ms, whose half is not part of this run")
	_, err = NewSpan(context.Background(), topo, "cust", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "host ms: no control endpoint given for its half")
}

// The control key: a 0600 file of at least 32 octets as hex; both sides of
// a control connection prove they hold it, and one without it is refused
// whichever side it is.
func TestControlKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		return p
	}
	good := write("good", hex.EncodeToString(make([]byte, 32))+"\n", 0o600)
	other := write("other", strings.Repeat("ab", 40), 0o600)
	_, err := LoadControlKey(write("short", strings.Repeat("ab", 31), 0o600))
	assert.ErrorContains(t, err, "want at least 32 octets as hex digits")
	_, err = LoadControlKey(write("open", strings.Repeat("ab", 32), 0o644))
	assert.ErrorContains(t, err, "0600")
	_, err = LoadControlKey(write("nothex", strings.Repeat("zz", 32), 0o600))
	assert.ErrorContains(t, err, "hex digits")
	assert.NotContains(t, err.Error(), "zz")

	k1, err := LoadControlKey(good)
	require.NoError(t, err)
	k2, err := LoadControlKey(other)
	require.NoError(t, err)
	assert.NotEqual(t, k1.Fingerprint(), k2.Fingerprint())
	handshake := func(server, client ControlKey, pin bool) (serr, cerr error) {
		sc, err := server.tlsConfig(true)
		require.NoError(t, err)
		cc, err := client.tlsConfig(false)
		require.NoError(t, err)
		if !pin {
			cc.VerifyPeerCertificate = nil // a client that trusts any endpoint
		}
		a, b := net.Pipe()
		done := make(chan error, 1)
		go func() {
			s := tls.Server(a, sc)
			err := s.Handshake()
			done <- err
			s.Close()
		}()
		c := tls.Client(b, cc)
		if cerr = c.Handshake(); cerr == nil {
			go io.Copy(io.Discard, c) // the session tickets, the server's alert
		}
		serr = <-done
		c.Close()
		return serr, cerr
	}
	serr, cerr := handshake(k1, k1, true)
	assert.NoError(t, serr)
	assert.NoError(t, cerr)
	_, cerr = handshake(k1, k2, true)
	assert.ErrorContains(t, cerr, "the endpoint does not hold this lab's control key")
	serr, _ = handshake(k1, k2, false)
	assert.ErrorContains(t, serr, "the client does not hold this lab's control key")

	// The generated keys of both halves: the same pair from the same
	// control key, each half in its own key directory; another name or
	// control key, another pair; without a control key, random.
	gen := func(k *ControlKey, name string) mka.PSK {
		l := &Lab{cfg: LabConfig{KeyDir: t.TempDir(), ControlKey: k}}
		key, err := l.generatedKey(name, macsec.GCMAESXPN256)
		require.NoError(t, err)
		return key.PSK
	}
	same := func(a, b mka.PSK) bool { return a.CKN.Equal(b.CKN) && a.CAK.Equal(b.CAK) }
	assert.True(t, same(gen(&k1, "cak-2"), gen(&k1, "cak-2")))
	assert.False(t, same(gen(&k1, "cak-2"), gen(&k1, "cak-3")))
	assert.False(t, same(gen(&k1, "cak-2"), gen(&k2, "cak-2")))
	assert.False(t, same(gen(nil, "cak-2"), gen(nil, "cak-2")))

	a, b := make([]byte, 64), make([]byte, 64)
	k1.Reader("generated key cak-2", 64).Read(a)
	k1.Reader("generated key cak-2", 64).Read(b)
	assert.Equal(t, a, b)
	k1.Reader("generated key cak-3", 64).Read(b)
	assert.NotEqual(t, a, b)
}
