package edgeconfig

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// strongSwan's swanctl.conf (swanctl.conf(5), strongSwan 5.9): one
// connection per tunnel to the lab's Azure VPN gateway, IKEv2 with a
// pre-shared key and IP-address identities as Azure uses them, Azure's
// proposals, DPD from dpdTimeoutSeconds, rekeying before Azure's
// lifetimes end, no MOBIKE (Azure has none). The key is never printed:
// the secrets section includes the file --psk-file writes (0600).
func init() {
	Register(Format{
		Name:    "swanctl",
		Summary: "strongSwan's swanctl.conf for the tunnels to the lab's Azure VPN gateway (the PSK in a 0600 file it includes)",
		Comment: "#",
		Applies: needTunnel,
		Write:   writeSwanctl,
		Secrets: writeSwanctlSecrets,
	})
}

func writeSwanctl(w io.Writer, n *Node) error {
	fmt.Fprintf(w, "# Load with: swanctl --load-all --file THIS_FILE (or put it in /etc/swanctl/conf.d/).\n")
	fmt.Fprintf(w, "connections {\n")
	for _, t := range n.Tunnels {
		for line := range strings.Lines(tunnelSummary("#", t)) {
			fmt.Fprintf(w, "  %s", line)
		}
		dpd := max(t.DPDTimeout/3, time.Second)
		start := "start"
		if !t.Initiates() {
			start = "none" // Azure initiates (connectionMode InitiatorOnly)
		}
		fmt.Fprintf(w, `  %[1]s {
    version = 2
    local_addrs = %[2]s
    remote_addrs = %[3]s
    proposals = %[4]s
    rekey_time = %[5]ds
    dpd_delay = %[6]ds
    mobike = no
    local {
      auth = psk
      id = %[2]s
    }
    remote {
      auth = psk
      id = %[3]s
    }
    children {
      %[1]s {
        local_ts = %[7]s
        remote_ts = %[8]s
        mode = tunnel
        esp_proposals = %[9]s
        rekey_time = %[10]ds
        rekey_bytes = %[11]d
        start_action = %[12]s
        dpd_action = %[13]s
        close_action = %[13]s
      }
    }
  }
`, t.Name, t.Local, t.Remote, proposals(t.IKE, false, swanName), int(t.IKELifetime/time.Second), int(dpd/time.Second),
			prefixes(t.LocalNets), prefixes(t.RemoteNets), proposals(t.ESP, true, swanName),
			int(t.ChildLifetime/time.Second), t.ChildKB*1024, start, map[bool]string{true: "restart", false: "trap"}[t.Initiates()])
	}
	fmt.Fprintf(w, "}\nsecrets {\n")
	eachSecret(n, func(file string) { fmt.Fprintf(w, "  # the shared keys (0600, never printed)\n  include %s\n", file) }, func(t Tunnel) {
		fmt.Fprintf(w, "  ike-%s {\n    id-1 = %s\n    id-2 = %s\n    secret = \"<the connection's sharedKey: secylab lab config %s --format swanctl --psk-file FILE writes it 0600 and includes it>\"\n  }\n",
			t.Name, t.Local, t.Remote, n.Name)
	})
	fmt.Fprintf(w, "}\n")
	return nil
}

// writeSwanctlSecrets is the file --psk-file writes: the ike sections of
// the secrets block, which the configuration includes.
func writeSwanctlSecrets(w io.Writer, n *Node) error {
	for _, t := range n.Tunnels {
		if t.PSK == "" {
			continue
		}
		fmt.Fprintf(w, "ike-%s {\n  id-1 = %s\n  id-2 = %s\n  secret = %q\n}\n", t.Name, t.Local, t.Remote, t.PSK)
	}
	return nil
}
