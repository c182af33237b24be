package edgeconfig

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/macsec"
)

// wpa_supplicant 2.10 (Debian 12), driver macsec_linux, MKA with a
// pre-shared key: the network block of wpa_supplicant.conf's "MACsec"
// example (key_mgmt=NONE, eapol_flags=0, macsec_policy=1, mka_cak,
// mka_ckn, mka_priority) and the macsec_* fields 2.10 parses
// (macsec_integ_only, macsec_replay_protect, macsec_replay_window,
// macsec_port). 2.10 has no macsec_csindex (its SecY is always
// GCM-AES-128), no XPN cipher suite (MKA version 1) and no
// macsec_include_sci; its MKA timers are fixed (hello 2 s, life 6 s,
// src/pae/ieee802_1x_kay.h). Its macsec_linux driver adopts a macsec
// device that already exists for the same SCI ("link already exists,
// using it", driver_macsec_linux.c), which is how the SCI is left out:
// the iproute2 export creates that device with send_sci off.
const wpaVersion = "wpa_supplicant 2.10 (Debian 12)"

// wpaHelloTime is wpa_supplicant's fixed MKA hello time.
const wpaHelloTime = 2 * time.Second

func init() {
	Register(Format{
		Name:    "wpa_supplicant",
		Summary: "a complete wpa_supplicant.conf for driver macsec_linux with the link's static CAK, for " + wpaVersion,
		Comment: "#",
		Keys:    true,
		Applies: func(n *Node) error {
			l, err := oneMACsecLink(n)
			if err != nil {
				return err
			}
			return wpaRefuses(l)
		},
		Write: writeWPA,
	})
}

// oneMACsecLink is the node's only MACsec link: one wpa_supplicant runs
// per interface.
func oneMACsecLink(n *Node) (Link, error) {
	ls := n.MACsecLinks()
	switch len(ls) {
	case 0:
		return Link{}, errNoMACsec
	case 1:
		return ls[0], nil
	}
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	return Link{}, fmt.Errorf("it has %d MACsec links (%s) and wpa_supplicant runs one per interface: choose one with --link", len(ls), strings.Join(names, ", "))
}

// wpaRefuses says why wpa_supplicant 2.10 cannot secure the link.
func wpaRefuses(l Link) error {
	m := l.MACsec
	if m.Suite != macsec.GCMAES128 {
		return fmt.Errorf("link %s runs %s and %s has no XPN and no macsec_csindex: its SecY is always GCM-AES-128 (GcmAes128). A stock Linux edge with this wpa_supplicant cannot do %s; use GcmAes128 on the link, or a KaY that programs the kernel's macsec with XPN (kernel 5.7 and later)",
			l.Name, m.Suite.AzureName(), wpaVersion, m.Suite.AzureName())
	}
	if m.LifeTime <= wpaHelloTime {
		return fmt.Errorf("link %s: the Microsoft edge's MKA life time %v is not more than %s's fixed hello time %v: it would drop the participant between two hellos; run the lab with --mka-life above %v",
			l.Name, m.LifeTime, wpaVersion, wpaHelloTime, wpaHelloTime)
	}
	return nil
}

func writeWPA(w io.Writer, n *Node) error {
	l, err := oneMACsecLink(n)
	if err != nil {
		return err
	}
	m := l.MACsec
	fmt.Fprintf(w, "# %s, driver macsec_linux, MKA with a static CAK (pre-shared key) as Azure uses it,\n", wpaVersion)
	fmt.Fprintf(w, "# for %s:%s on %s to %s:%s.\n", n.Name, l.Port, l.Name, l.Peer, l.PeerPort)
	if m.IncludeSCI {
		fmt.Fprintf(w, "#   wpa_supplicant -D macsec_linux -i %s -c %s-%s.conf\n", l.Interface, n.Name, l.Name)
		fmt.Fprintf(w, "# The SCI is sent (sciState Enabled): wpa_supplicant creates the macsec device itself.\n")
	} else {
		fmt.Fprintf(w, "# The SCI is omitted (sciState Disabled), which %s cannot set: create the\n", wpaVersion)
		fmt.Fprintf(w, "# macsec device first (secylab lab config %s --format iproute2), then start it;\n", n.Name)
		fmt.Fprintf(w, "# it takes the existing device for its SCI (\"link already exists, using it\"):\n")
		fmt.Fprintf(w, "#   %s\n", ipLinkAdd(l))
		fmt.Fprintf(w, "#   wpa_supplicant -D macsec_linux -i %s -c %s-%s.conf\n", l.Interface, n.Name, l.Name)
	}
	fmt.Fprintf(w, "# The Microsoft edge expects: %s (%s), SCI %s, replay protection %s, window %d,\n",
		m.Suite, m.Suite.AzureName(), sciState(m.IncludeSCI), onOff(m.ReplayProtect), m.ReplayWindow)
	fmt.Fprintf(w, "# key server priority %d, MKA hello %v / life %v. wpa_supplicant's MKA timers are fixed at\n", m.KeyServerPriority, m.HelloTime, m.LifeTime)
	fmt.Fprintf(w, "# hello 2s / life 6s (production Azure: %v / %v); the ICV is 16 octets, so no ICV Indicator.\n", expressroute.MKAHelloTime, expressroute.MKALifeTime)
	if !m.Secret() {
		fmt.Fprintf(w, "# Replace <CKN> and <CAK> with the link's secrets (the Key Vault secrets the port's\n")
		fmt.Fprintf(w, "# macSecConfig names), or print them with --show-secrets.\n")
	}
	fmt.Fprintf(w, "ctrl_interface=DIR=/run/wpa_supplicant\n")
	fmt.Fprintf(w, "eapol_version=3\n")
	fmt.Fprintf(w, "ap_scan=0\n")
	fmt.Fprintf(w, "network={\n")
	fmt.Fprintf(w, "\tkey_mgmt=NONE\n")
	fmt.Fprintf(w, "\teapol_flags=0\n")
	fmt.Fprintf(w, "\tmacsec_policy=1\n")
	fmt.Fprintf(w, "\tmacsec_integ_only=0\n")
	fmt.Fprintf(w, "\tmacsec_replay_protect=%d\n", b2i(m.ReplayProtect))
	fmt.Fprintf(w, "\tmacsec_replay_window=%d\n", m.ReplayWindow)
	fmt.Fprintf(w, "\tmacsec_port=1\n")
	fmt.Fprintf(w, "\tmka_priority=%d\n", m.KeyServerPriority)
	fmt.Fprintf(w, "\tmka_ckn=%s\n", m.ckn())
	fmt.Fprintf(w, "\tmka_cak=%s\n", m.cak())
	fmt.Fprintf(w, "}\n")
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sciState is Azure's spelling of whether the SCI is sent.
func sciState(include bool) string {
	if include {
		return expressroute.Enabled
	}
	return expressroute.Disabled
}
