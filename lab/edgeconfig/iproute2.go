package edgeconfig

import (
	"fmt"
	"io"
	"strings"
)

// iproute2's "ip link add ... type macsec" (ip-macsec(8)): the SecY of a
// Linux edge. Azure keys a link with MKA, so the SAs are not given here
// (the static form, "ip macsec add DEV tx sa ... key", is not what Azure
// runs): wpa_supplicant or another KaY installs them on this device.
func init() {
	Register(Format{
		Name:    "iproute2",
		Summary: "ip link/ip address commands that create the macsec device (SecY) with the link's parameters, for wpa_supplicant's MKA to key",
		Comment: "#",
		Applies: needMACsec,
		Write:   writeIProute2,
	})
}

// macsecDevice names the macsec device on the i-th MACsec link.
func macsecDevice(i int) string { return fmt.Sprintf("macsec%d", i) }

// ipLinkAdd is the command that creates the SecY of link l (the i-th
// MACsec link of its node).
func ipLinkAdd(l Link) string { return ipLinkAddDev(l, macsecDevice(0)) }

func ipLinkAddDev(l Link, dev string) string {
	m := l.MACsec
	var b strings.Builder
	fmt.Fprintf(&b, "ip link add link %s name %s type macsec port 1 cipher %s icvlen 16 encrypt on send_sci %s end_station off scb off protect on replay %s",
		l.Interface, dev, strings.ToLower(m.Suite.String()), onOff(m.IncludeSCI), onOff(m.ReplayProtect))
	if m.ReplayProtect {
		fmt.Fprintf(&b, " window %d", m.ReplayWindow)
	}
	b.WriteString(" validate strict")
	return b.String()
}

// kayKeyFile is where the exported secylab mka run line reads a link's
// CKN and CAK.
func kayKeyFile(l Link) string { return "/etc/secylab/" + l.Name + ".key" }

// kayRun is the secylab mka run --kernel line that creates and keys the
// SecY of link l as dev (in the background: it runs until stopped).
func kayRun(l Link, dev string) string {
	m := l.MACsec
	var b strings.Builder
	fmt.Fprintf(&b, "secylab mka run --kernel --interface %s --device %s --cipher %s --key-file %s", l.Interface, dev, m.Suite.AzureName(), kayKeyFile(l))
	if m.IncludeSCI {
		b.WriteString(" --include-sci")
	}
	if m.ReplayProtect {
		fmt.Fprintf(&b, " --replay-window %d", m.ReplayWindow)
	} else {
		b.WriteString(" --no-replay-protect")
	}
	fmt.Fprintf(&b, " --priority %d --hello %v --life %v", m.KeyServerPriority, m.HelloTime, m.LifeTime)
	for _, a := range l.Addresses {
		fmt.Fprintf(&b, " --address %s", a)
	}
	fmt.Fprintf(&b, " >/var/log/secylab-mka-%s.log 2>&1 &", dev)
	return b.String()
}

func writeIProute2(w io.Writer, n *Node) error {
	fmt.Fprintf(w, "# The macsec device (the SecY, ip-macsec(8)) of each MACsec link of %s, with the parameters the\n", n.Name)
	fmt.Fprintf(w, "# Microsoft edge expects. Azure keys the link with MKA and a static CAK, so no SA is given here:\n")
	if n.KernelKaY {
		fmt.Fprintf(w, "# secylab's KaY (secylab mka run --kernel; %s has macsec: kernel-kay) creates the device over\n", n.Name)
		fmt.Fprintf(w, "# rtnetlink, moves the link's addresses onto it and installs the SAs MKA agrees, every cipher\n")
		fmt.Fprintf(w, "# suite, XPN included (Linux 5.7 and later). It reads the CKN and CAK from the key file named\n")
		fmt.Fprintf(w, "# (0600, CKN=/CAK= lines: secylab key --help) and runs until SIGTERM, which deletes the device.\n")
		return writeKaY(w, n)
	}
	fmt.Fprintf(w, "# create the device, then start wpa_supplicant (secylab lab config %s --format wpa_supplicant),\n", n.Name)
	fmt.Fprintf(w, "# which adopts it and installs the SAs MKA agrees. Move the link's addresses from the\n")
	fmt.Fprintf(w, "# physical interface to the macsec device; the physical one only carries MKA and MACsec frames.\n")
	if _, vs := vlans(n); len(vs) > 0 {
		fmt.Fprintf(w, "# A circuit's peerings are VLAN devices on the macsec device, so their tags travel encrypted.\n")
	}
	for i, l := range n.MACsecLinks() {
		m := l.MACsec
		dev := macsecDevice(i)
		fmt.Fprintf(w, "\n# %s: %s:%s to %s:%s. %s (%s), SCI %s (send_sci %s), replay protection %s, window %d;\n",
			l.Name, n.Name, l.Port, l.Peer, l.PeerPort, m.Suite, m.Suite.AzureName(), sciState(m.IncludeSCI), onOff(m.IncludeSCI), onOff(m.ReplayProtect), m.ReplayWindow)
		fmt.Fprintf(w, "# MKA (the KaY's part): key server priority %d, hello %v, life %v.\n", m.KeyServerPriority, m.HelloTime, m.LifeTime)
		if err := wpaRefuses(l); err != nil {
			fmt.Fprintf(w, "# Note: %v.\n", err)
			fmt.Fprintf(w, "# Instead of this device and wpa_supplicant, secylab's KaY (it creates the device): %s\n", kayRun(l, dev))
		}
		fmt.Fprintf(w, "ip link set dev %s up\n", l.Interface)
		fmt.Fprintln(w, ipLinkAddDev(l, dev))
		for _, a := range l.Addresses {
			fmt.Fprintf(w, "ip address del %s dev %s 2>/dev/null || true\n", a, l.Interface)
			fmt.Fprintf(w, "ip address add %s dev %s\n", a, dev)
		}
		writeVLANDevices(w, l, dev)
		fmt.Fprintf(w, "# check: ip -d link show %s; ip macsec show %s (the SAs appear once MKA has secured the link)\n", dev, dev)
	}
	return nil
}

// writeKaY is the iproute2 export of a kernel-kay node: the NIC up, then
// one secylab mka run per MACsec link.
func writeKaY(w io.Writer, n *Node) error {
	for i, l := range n.MACsecLinks() {
		m, dev := l.MACsec, macsecDevice(i)
		fmt.Fprintf(w, "\n# %s: %s:%s to %s:%s. %s (%s), SCI %s, replay protection %s, window %d;\n",
			l.Name, n.Name, l.Port, l.Peer, l.PeerPort, m.Suite, m.Suite.AzureName(), sciState(m.IncludeSCI), onOff(m.ReplayProtect), m.ReplayWindow)
		fmt.Fprintf(w, "# MKA: key server priority %d, hello %v, life %v. Key file: %s.\n", m.KeyServerPriority, m.HelloTime, m.LifeTime, kayKeyFile(l))
		fmt.Fprintf(w, "ip link set dev %s up\n", l.Interface)
		fmt.Fprintln(w, kayRun(l, dev))
		if len(l.VLANs) > 0 {
			fmt.Fprintf(w, "i=0; while ! ip link show %s >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done\n", dev)
			writeVLANDevices(w, l, dev)
		}
		fmt.Fprintf(w, "# check: ip -d link show %s; ip macsec show %s (the SAs appear once MKA has secured the link)\n", dev, dev)
	}
	return nil
}

// writeVLANDevices makes each peering of link l a VLAN device (ip-link(8)
// type vlan) on dev, the macsec device: 802.1Q for Dot1Q; for QinQ an
// 802.1ad device for the S-tag (once) with the 802.1Q C-tag device on it.
func writeVLANDevices(w io.Writer, l Link, dev string) {
	outers := map[uint16]bool{}
	for _, v := range l.VLANs {
		fmt.Fprintf(w, "# %s: circuit %s, %s, %s (the lab's %s)\n", l.Name, v.Circuit, v.Peering, v.Tags(), v.Interface)
		parent := dev
		if v.STag != 0 {
			parent = fmt.Sprintf("%s.%d", dev, v.STag)
			if !outers[v.STag] {
				outers[v.STag] = true
				fmt.Fprintf(w, "ip link add link %s name %s type vlan protocol 802.1ad id %d\nip link set %s up\n", dev, parent, v.STag, parent)
			}
		}
		name := fmt.Sprintf("%s.%d", parent, v.CTag)
		fmt.Fprintf(w, "ip link add link %s name %s type vlan id %d\nip link set %s up\n", parent, name, v.CTag, name)
		for _, a := range v.Addresses {
			fmt.Fprintf(w, "ip address add %s dev %s\n", a, name)
		}
	}
}
