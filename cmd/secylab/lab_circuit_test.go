package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/bgp/bfd"
	"github.com/secylab/secylab/internal/nettest"
)

// peering is one peering's session at both ends of a link, with the
// addresses of its /30.
type peering struct {
	link, session, ce, msee, ceAddr, mseeAddr string
}

// circuitPeerings are the four sessions of the built-in expressroute-direct
// (and -qinq): private and Microsoft peering over link1 and link2.
func circuitPeerings(tags1, tags2 string) []peering {
	return []peering{
		{"link1", "link1." + tags1, "ce1", "msee1", "192.168.100.129", "192.168.100.130"},
		{"link1", "link1." + tags2, "ce1", "msee1", "203.0.113.1", "203.0.113.2"},
		{"link2", "link2." + tags1, "ce2", "msee2", "192.168.100.133", "192.168.100.134"},
		{"link2", "link2." + tags2, "ce2", "msee2", "203.0.113.5", "203.0.113.6"},
	}
}

// captureFields captures one side of a link at node while fn runs and
// returns tshark's fields of every frame, one line per frame.
func (l *testLab) captureFields(link, side, node string, fn func(), fields ...string) []string {
	l.t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		l.t.Skip("tshark is not installed (.ci/run installs it)")
	}
	file := filepath.Join(l.t.TempDir(), link+"-"+side+".pcapng")
	cmd := exec.Command(secylabBin, "lab", "capture", link, "--side", side, "--node", node, "-w", file, "--duration", "3s", "--lab", l.name)
	cmd.Env = append(os.Environ(), "SECYLAB_STATE_DIR="+l.state)
	require.NoError(l.t, cmd.Start())
	time.Sleep(300 * time.Millisecond)
	fn()
	require.NoError(l.t, cmd.Wait())
	args := []string{"-r", file, "-T", "fields", "-E", "separator=;"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	require.NoError(l.t, err, "tshark: %s", out)
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestLabCircuits: the built-in expressroute-direct, a circuit with
// private peering on VLAN 100 and Microsoft peering on VLAN 200 over both
// MACsec links. Every peering's BGP session is Established with BFD up,
// pings of full-size frames (DF) and a SHA-256-checked transfer cross each
// peering; the wire of link1 shows only MACsec and MKA, no tag and no VID;
// the Microsoft edge's clear side shows each peering's frames with its
// tag; Microsoft peering accepts only the advertised public prefix; a
// drain of link1 moves both peerings; a key mismatch on link1 drops both
// of its peerings and BFD/BGP move both to link2.
func TestLabCircuits(t *testing.T) {
	l := startLab(t, "expressroute-direct")
	ps := circuitPeerings("100", "200")
	for _, p := range ps {
		for _, node := range []string{p.ce, p.msee} {
			l.eventually("BGP and BFD up on "+node+" "+p.session, 20*time.Second, func() bool {
				n := l.neighbor(node, p.session)
				return n.State == bgp.Established && n.BFD != nil && n.BFD.State == bfd.Up
			})
		}
	}
	ms := l.neighbor("msee1", "link1.200")
	require.Equal(t, 2, ms.Received[bgp.IPv4Unicast], "ce1 offers 10.1.0.0/16 and 198.51.100.0/24 on Microsoft peering")
	require.Equal(t, 1, ms.Accepted[bgp.IPv4Unicast], "the Microsoft edge accepts only the advertised public prefix")
	require.Contains(t, l.mustRun("lab", "bgp", "msee1"),
		"refused on link1.200 (Microsoft peering's route filter): 10.1.0.0/16, private: Microsoft peering carries only the public prefixes of advertisedPublicPrefixes (198.51.100.0/24)\n")

	// A reset may name one peering's session: the other stays up.
	flaps := l.neighbor("msee1", "link1.100").Flaps
	l.mustRun("lab", "bgp", "reset", "msee1", "link1.200")
	l.eventually("Microsoft peering reset and back", 15*time.Second, func() bool {
		n := l.neighbor("msee1", "link1.200")
		return n.State == bgp.Established && n.LastSent != nil && n.LastSent.Subcode == bgp.CeaseAdminReset
	})
	require.Equal(t, flaps, l.neighbor("msee1", "link1.100").Flaps, "private peering untouched by the reset of link1.200")
	require.Equal(t, bgp.Established, l.neighbor("msee1", "link1.100").State)
	require.Contains(t, l.routeGet("ce1", "192.0.2.1"), "via 203.0.113.2 dev er1.200", "Microsoft's service prefix over Microsoft peering")
	require.Contains(t, l.routeGet("ce1", "10.50.0.10"), "via 192.168.100.130 dev er1.100", "the VNet over private peering")

	traffic := func() {
		for _, p := range ps {
			out, err := exec.Command("ip", "netns", "exec", l.ns(p.ce), "ping", "-c", "3", "-i", "0.05", "-W", "1", "-M", "do", "-s", "1472", p.mseeAddr).CombinedOutput()
			require.NoError(t, err, "1500-octet ping over %s: %s", p.session, out)
		}
	}
	wire := l.captureFields("link1", "wire", "ce1", traffic, "eth.type", "vlan.id", "frame.protocols")
	macsecFrames := 0
	for _, f := range wire {
		fs := strings.Split(f, ";")
		require.Len(t, fs, 3, "tshark line %q", f)
		require.Contains(t, []string{"0x88e5", "0x888e"}, fs[0], "only MACsec and MKA on link1's wire: %q", f)
		require.Empty(t, fs[1], "no VLAN ID on the wire: %q", f)
		require.NotContains(t, fs[2], "vlan", "no 802.1Q or 802.1ad tag on the wire: %q", f)
		if fs[0] == "0x88e5" {
			macsecFrames++
		}
	}
	require.GreaterOrEqual(t, macsecFrames, 12, "the pings crossed link1 as MACsec frames")

	clear := l.captureFields("link1", "clear", "msee1", traffic, "vlan.id", "ip.src", "icmp.type")
	echo := map[string]string{} // source of each echo request → its VID
	for _, f := range clear {
		fs := strings.Split(f, ";")
		if len(fs) == 3 && fs[2] == "8" {
			echo[fs[1]] = fs[0]
		}
	}
	require.Equal(t, map[string]string{"192.168.100.129": "100", "203.0.113.1": "200"}, echo, "the Microsoft edge's clear side: each peering's frames with its VLAN")

	for _, p := range ps[:2] {
		sent, got := tcpTransfer(t, l.ns(p.ce), l.ns(p.msee), p.mseeAddr+":5201", 4<<20)
		require.Equal(t, sent, got, "SHA-256 of 4 MiB over %s", p.session)
	}
	for _, p := range ps[2:] {
		sent, got := tcpTransfer(t, l.ns(p.msee), l.ns(p.ce), p.ceAddr+":5201", 4<<20)
		require.Equal(t, sent, got, "SHA-256 of 4 MiB over %s", p.session)
	}
	st := l.status()
	for _, port := range st.Ports {
		require.Zero(t, port.Dataplane.RxUnknownVLAN, "%s:%s", port.Node, port.Name)
	}

	// Draining link1 drains both of its peerings: the traffic of both
	// moves to link2 with the sessions up; undrain brings it back.
	l.mustRun("lab", "bgp", "drain", "link1")
	l.eventually("both peerings drained to link2", 10*time.Second, func() bool {
		return strings.Contains(l.routeGet("msee1", "10.1.0.10"), "dev sib") && strings.Contains(l.routeGet("ce1", "192.0.2.1"), "dev sib")
	})
	require.Equal(t, bgp.Established, l.neighbor("ce1", "link1.200").State, "a drain keeps the sessions")
	l.mustRun("lab", "bgp", "undrain", "link1")
	l.eventually("both peerings back on link1", 10*time.Second, func() bool {
		return strings.Contains(l.routeGet("msee1", "10.1.0.10"), "dev er1.100") && strings.Contains(l.routeGet("ce1", "192.0.2.1"), "dev er1.200")
	})

	// A key mismatch on link1 takes both of its peerings down; both move
	// to link2 through the siblings.
	l.mustRun("lab", "macsec", "set", "link1", "--node", "msee1", "--new-cak")
	moved := l.eventually("ce1 routes both peerings' prefixes over link2", 5*time.Second, func() bool {
		return strings.Contains(l.routeGet("ce1", "10.50.0.10"), "dev sib") && strings.Contains(l.routeGet("ce1", "192.0.2.1"), "dev sib")
	})
	t.Logf("both peerings moved to link2 %v after the key mismatch on link1", moved.Round(time.Millisecond))
	// msee1's own BFD notices on its own too: within its detection time.
	l.eventually("msee1 routes on-premises over link2", 3*time.Second, func() bool {
		return strings.Contains(l.routeGet("msee1", "10.1.0.10"), "dev sib")
	})
	for _, p := range ps {
		for _, node := range []string{p.ce, p.msee} {
			n := l.neighbor(node, p.session)
			if p.link == "link1" {
				// Each end's BFD notices on its own: within its detection time.
				l.eventually(node+" drops "+p.session, 3*time.Second, func() bool { return l.neighbor(node, p.session).State != bgp.Established })
				continue
			}
			require.Equal(t, bgp.Established, n.State, "%s on %s carries on", node, p.session)
		}
	}
	require.NoError(t, nettest.Ping(l.ns("onprem-host"), "10.50.0.10", 10), "on-premises reaches the VNet over link2")
}

// TestLabCircuitsQinQ: the QinQ variant: the Microsoft edge's clear side
// shows S-tag 10 (802.1ad) and C-tags 100 and 200; the wire shows neither;
// every peering's session is Established.
func TestLabCircuitsQinQ(t *testing.T) {
	l := startLab(t, "expressroute-qinq")
	ps := circuitPeerings("10.100", "10.200")
	for _, p := range ps {
		l.eventually("BGP up on "+p.ce+" "+p.session, 20*time.Second, func() bool {
			return l.neighbor(p.ce, p.session).State == bgp.Established
		})
	}
	traffic := func() {
		for _, p := range ps[:2] {
			require.NoError(t, nettest.Ping(l.ns(p.ce), p.mseeAddr, 3), p.session)
		}
	}
	for _, f := range l.captureFields("link1", "wire", "ce1", traffic, "eth.type", "ieee8021ad.id", "vlan.id") {
		require.True(t, strings.HasPrefix(f, "0x88e5;") || strings.HasPrefix(f, "0x888e;"), "only MACsec and MKA on the wire: %q", f)
		require.True(t, strings.HasSuffix(f, ";;"), "no S-VID or C-VID on the wire: %q", f)
	}
	var tags []string
	for _, f := range l.captureFields("link1", "clear", "msee1", traffic, "eth.type", "ieee8021ad.id", "vlan.id", "icmp.type") {
		if strings.HasSuffix(f, ";8") && !slices.Contains(tags, f) {
			tags = append(tags, f)
		}
	}
	slices.Sort(tags)
	require.Equal(t, []string{"0x88a8;10;100;8", "0x88a8;10;200;8"}, tags, "S-tag 10 and each peering's C-tag on the clear side")
}

// TestLabCircuitsInClear: with MACsec off the tags are on the wire, where
// the kernel takes them off received frames before the port's packet
// socket sees them; the port must put them back, or no peering carries
// anything (every frame would arrive untagged on er1, none on er1.100).
func TestLabCircuitsInClear(t *testing.T) {
	for _, c := range []struct {
		topology, tags1, tags2 string
		want                   []string // S-VID;C-VID of each peering's echo requests
	}{
		{"expressroute-direct", "100", "200", []string{";100", ";200"}},
		{"expressroute-qinq", "10.100", "10.200", []string{"10;100", "10;200"}},
	} {
		t.Run(c.topology, func(t *testing.T) {
			l := startLab(t, c.topology)
			l.mustRun("lab", "macsec", "set", "link1", "--off")
			ps := circuitPeerings(c.tags1, c.tags2)[:2]
			traffic := func() {
				for _, p := range ps {
					require.NoError(t, nettest.Ping(l.ns(p.ce), p.mseeAddr, 3), "%s in clear", p.session)
				}
			}
			var vids []string
			for _, f := range l.captureFields("link1", "wire", "msee1", traffic, "ieee8021ad.id", "vlan.id", "icmp.type") {
				if fs := strings.Split(f, ";"); len(fs) == 3 && fs[2] == "8" && !slices.Contains(vids, fs[0]+";"+fs[1]) {
					vids = append(vids, fs[0]+";"+fs[1])
				}
			}
			slices.Sort(vids)
			require.Equal(t, c.want, vids, "each peering's echo requests with their tags, in clear on the wire")
		})
	}
}
