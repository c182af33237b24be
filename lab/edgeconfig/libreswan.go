package edgeconfig

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/secylab/secylab/ipsec/ike"
)

// libreswan 4.10 (Debian 12): a conn per tunnel in ipsec.conf(5) and the
// PSK in an ipsec.secrets(5) file, for the lab's Azure VPN gateway. The
// conformance VM runs Debian's pluto with it against secylab's gateway as
// Azure's, each side initiating (conformance/cases_libreswan.go).
// libreswan has no DH group 24 (RFC 8247: MUST NOT), so a policy that
// needs it is refused; Debian's libreswan 4 is built without DH group 2
// (modp1024) unless USE_DH2, which Azure's default main mode needs: the
// export says so.
func init() {
	Register(Format{
		Name:    "libreswan",
		Summary: "libreswan's ipsec.conf conn sections for the tunnels to the lab's Azure VPN gateway (the PSK as ipsec.secrets in a 0600 file)",
		Comment: "#",
		Applies: func(n *Node) error {
			if err := needTunnel(n); err != nil {
				return err
			}
			for _, t := range n.Tunnels {
				for _, s := range append(t.IKE[:len(t.IKE):len(t.IKE)], t.ESP...) {
					if s.DH == ike.MODP2048S256 {
						return errors.New("tunnel " + t.Name + "'s policy needs DH group 24 (DHGroup24/PFS24), which libreswan does not implement (RFC 8247: MUST NOT)")
					}
				}
			}
			return nil
		},
		Write:   writeLibreswan,
		Secrets: writeLibreswanSecrets,
	})
}

var lsDH = map[ike.DHGroup]string{ike.MODP1024: "modp1024", ike.MODP2048: "modp2048", ike.ECP256: "dh19", ike.ECP384: "dh20"}

var lsHash = map[uint16]string{ike.AUTH_HMAC_SHA1_96: "sha1", ike.AUTH_HMAC_SHA2_256_128: "sha2_256", ike.AUTH_HMAC_SHA2_384_192: "sha2_384"}

var lsPRF = map[uint16]string{ike.PRF_HMAC_SHA1: "sha1", ike.PRF_HMAC_SHA2_256: "sha2_256", ike.PRF_HMAC_SHA2_384: "sha2_384"}

// lsName is a suite in libreswan's algorithm syntax: aes256-sha1;modp1024,
// aes_gcm256-sha2_256;dh20 (IKE: the hash is the PRF), aes_gcm256-null.
func lsName(s ike.Suite, esp bool) string {
	var b strings.Builder
	if s.AEAD() {
		fmt.Fprintf(&b, "aes_gcm%d", s.KeyBits)
		if esp {
			b.WriteString("-null")
		} else {
			b.WriteString("-" + lsPRF[s.PRF])
		}
	} else {
		fmt.Fprintf(&b, "aes%d-%s", s.KeyBits, lsHash[s.Integ])
	}
	if s.DH != 0 {
		b.WriteString(";" + lsDH[s.DH])
	}
	return b.String()
}

func writeLibreswan(w io.Writer, n *Node) error {
	fmt.Fprintf(w, "# ipsec.conf: put the conn sections in /etc/ipsec.d/azure.conf (ipsec.conf includes /etc/ipsec.d/*.conf);\n")
	fmt.Fprintf(w, "# the key goes in /etc/ipsec.d/azure.secrets (0600; --psk-file writes it).\n")
	for _, t := range n.Tunnels {
		fmt.Fprint(w, "\n"+tunnelSummary("#", t))
		for _, s := range t.IKE {
			if s.DH == ike.MODP1024 {
				fmt.Fprintf(w, "# Azure's default main mode is DH group 2 (modp1024), which Debian's libreswan 4 leaves out unless built\n")
				fmt.Fprintf(w, "# with USE_DH2=true: pluto then refuses ike= below; give the connection an ipsecPolicies entry with DHGroup14 or ECP.\n")
				break
			}
		}
		pfs := false
		for _, s := range t.ESP {
			pfs = pfs || s.DH != 0
		}
		auto := "start"
		if !t.Initiates() {
			auto = "add" // Azure initiates (connectionMode InitiatorOnly)
		}
		dpd := max(t.DPDTimeout/3, time.Second)
		// pluto routes the remote subnets (its updown script) only with a
		// source address; without one the node's own packets to them leave
		// from its outer address, outside the selectors, in the clear.
		var source, narrow string
		if t.SourceIP.IsValid() {
			source = "\tleftsourceip=" + t.SourceIP.String() + "\n"
		}
		if !t.PolicyBased {
			// Azure's route-based gateway proposes 0.0.0.0/0 both ways when it
			// initiates; pluto as responder accepts that only narrowed to the subnets.
			narrow = "\tnarrowing=yes\n"
		}
		// IKEv2 pluto ignores dpdtimeout (it warns): a liveness check
		// unanswered for retransmit-timeout declares the peer dead.
		fmt.Fprintf(w, `conn %[1]s
	ikev2=insist
	authby=secret
	type=tunnel
	left=%[2]s
	leftid=%[2]s
	leftsubnets={%[3]s}
%[14]s	right=%[4]s
	rightid=%[4]s
	rightsubnets={%[5]s}
%[15]s	ike=%[6]s
	esp=%[7]s
	pfs=%[8]s
	ikelifetime=%[9]ds
	salifetime=%[10]ds
	dpddelay=%[11]ds
	retransmit-timeout=%[12]ds
	dpdaction=restart
	mobike=no
	auto=%[13]s
`, t.Name, t.Local, strings.ReplaceAll(prefixes(t.LocalNets), ",", " "), t.Remote, strings.ReplaceAll(prefixes(t.RemoteNets), ",", " "),
			proposals(t.IKE, false, lsName), proposals(t.ESP, true, lsName), map[bool]string{true: "yes", false: "no"}[pfs],
			int(t.IKELifetime/time.Second), int(t.ChildLifetime/time.Second), int(dpd/time.Second), int(t.DPDTimeout/time.Second), auto, source, narrow)
	}
	fmt.Fprintf(w, "\n# ipsec.secrets (the shared key, never printed here):\n")
	eachSecret(n, func(file string) { fmt.Fprintf(w, "#   include %s\n", file) }, func(t Tunnel) {
		fmt.Fprintf(w, "#   %s %s : PSK \"<the connection's sharedKey: secylab lab config %s --format libreswan --psk-file FILE writes it 0600>\"\n", t.Local, t.Remote, n.Name)
	})
	return nil
}

func writeLibreswanSecrets(w io.Writer, n *Node) error {
	for _, t := range n.Tunnels {
		if t.PSK != "" {
			fmt.Fprintf(w, "%s %s : PSK %q\n", t.Local, t.Remote, t.PSK)
		}
	}
	return nil
}
