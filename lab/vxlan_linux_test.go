package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/topology"
)

// writeKey writes a fresh CAK/CKN pair to a 0600 key file.
func writeKey(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	cak, ckn := make([]byte, 32), make([]byte, 32)
	rand.Read(cak)
	rand.Read(ckn)
	require.NoError(t, os.WriteFile(path, []byte("CKN="+hex.EncodeToString(ckn)+"\nCAK="+hex.EncodeToString(cak)+"\n"), 0o600))
	return path
}

// TestVXLANHosts: two "hosts" on this machine, two namespaces joined by an
// underlay veth with an address each, run the two halves of the built-in
// topology (lab/testdata/er-two-hosts.yaml) with --host: the customer's
// routers on one, the Microsoft edge on the other, link1 and link2 over
// VXLAN devices each half creates. MKA secures both links across the
// hosts, BGP and BFD come up, traffic passes; lab down removes the VXLAN
// devices, also after SIGKILL. (The rotate-cak exercise across the two
// hosts, run by lab run, is cmd/secylab's TestLabRunAcrossHosts.)
func TestVXLANHosts(t *testing.T) {
	nettest.NeedRoot(t)
	id := nettest.UniqueID()
	if len(id) > 7 {
		id = id[len(id)-7:]
	}
	hms, hcu := nettest.Namespace(t, "hms"), nettest.Namespace(t, "hcu")
	nettest.Wire(t, hms, hcu, "ul", 1600)
	nettest.Run(t, "ip", "-n", hms, "addr", "add", "10.77.0.1/24", "dev", "ul")
	nettest.Run(t, "ip", "-n", hcu, "addr", "add", "10.77.0.2/24", "dev", "ul")

	key := writeKey(t, "er.key")
	data, err := os.ReadFile(filepath.Join("testdata", "er-two-hosts.yaml"))
	require.NoError(t, err)
	data = []byte(strings.ReplaceAll(string(data), "secret: KEY", "secret: "+key))
	name := "v" + id
	half := func(host string) *topology.Topology {
		topo, err := topology.ParseHost(filepath.Join(t.TempDir(), "er-two-hosts.yaml"), data, host)
		require.NoError(t, err)
		require.NoError(t, topo.Rename(name))
		return topo
	}
	ms, cu := half("ms"), half("cust")
	msState, cuState := t.TempDir(), t.TempDir()
	t.Cleanup(func() { _ = netnsx.Do(hms, func() error { return Down(msState, name) }) })
	t.Cleanup(func() { _ = netnsx.Do(hcu, func() error { return Down(cuState, name) }) })

	ctx := context.Background()
	spec := func(topo *topology.Topology) Spec {
		return Spec{Topology: topo, HelloTime: time.Second, LifeTime: 3 * time.Second}
	}
	// Each half's lab process starts on its host: in that namespace.
	upIn := func(ns, state string, topo *topology.Topology) (c *Client) {
		require.NoError(t, netnsx.Do(ns, func() (err error) {
			c, err = Up(ctx, spec(topo), UpOptions{StateDir: state})
			return err
		}))
		return c
	}
	start := time.Now()
	mc, cc := upIn(hms, msState, ms), upIn(hcu, cuState, cu)
	for _, c := range []*Client{mc, cc} {
		require.NoError(t, c.WaitSecured(ctx, 20*time.Second))
		_, err := c.WaitBGP(ctx, 20*time.Second)
		require.NoError(t, err)
	}
	t.Logf("both halves up, MKA secured and BGP Established over VXLAN in %v", time.Since(start).Round(time.Millisecond))

	// The VXLAN devices: the far host's address, the link's VNI, port
	// 4789, the underlay's MTU less 50; the lab's port 32 less again.
	vx := nettest.Run(t, "ip", "-n", hms, "-d", "link", "show", "slvx101")
	assert.Regexp(t, `mtu 1550 .*\n(.*\n)*\s+vxlan id 101 remote 10\.77\.0\.2 local 10\.77\.0\.1 dev ul .*dstport 4789`, vx)
	assert.Contains(t, nettest.Run(t, "ip", "-n", hcu, "-d", "link", "show", "slvx102"), "vxlan id 102 remote 10.77.0.1 local 10.77.0.2")
	assert.Contains(t, nettest.Run(t, "ip", "-n", topology.NamespaceName(name, "msee1"), "link", "show", "er1"), "mtu 1500")

	// lab status on either host: its half, and that the far half answers.
	for _, h := range []struct{ ns, state, node string }{{hms, msState, "msee1"}, {hcu, cuState, "ce1"}} {
		var infos []Info
		require.NoError(t, netnsx.Do(h.ns, func() (err error) { infos, err = List(h.state, name); return err }))
		require.Len(t, infos, 1)
		assert.Len(t, infos[0].Ports, 2, "%s: this half's two ports of link1 and link2 only", h.node)
		for _, p := range infos[0].Ports {
			if p.Node != h.node {
				continue
			}
			assert.Contains(t, p.VXLAN, "VNI 101 on slvx101 to host ")
			assert.Equal(t, "answers: MKA peer live (secured); BGP Established, BFD Up", p.FarHalf)
		}
	}

	onprem, vnet := topology.NamespaceName(name, "onprem-host"), topology.NamespaceName(name, "vnet-host")
	require.NoError(t, nettest.Ping(onprem, "10.50.0.10", 5))
	require.NoError(t, nettest.Ping(vnet, "10.1.0.10", 5))

	// SIGKILL the Microsoft half's lab process: lab down removes its
	// VXLAN devices from the intent log; the customer half's go with a
	// plain lab down.
	st, err := mc.Status()
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(st.PID, syscall.SIGKILL))
	require.Eventually(t, func() bool { return syscall.Kill(st.PID, 0) != nil || processZombie(st.PID) }, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, netnsx.Do(hms, func() error { return Down(msState, name) }))
	require.NoError(t, netnsx.Do(hcu, func() error { return Down(cuState, name) }))
	for _, ns := range []string{hms, hcu} {
		links := nettest.Run(t, "ip", "-n", ns, "-o", "link", "show")
		assert.NotContains(t, links, "slvx", "%s: lab down removes the VXLAN devices", ns)
		assert.Contains(t, links, "ul", "the underlay stays")
	}
}
