package strongswan

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// PSKConn is one IKEv2 connection with a pre-shared key between two
// addresses (each end's ID its address) and one child "net", as tests and
// benchmarks hand charon: Swanctl writes its swanctl.conf.
type PSKConn struct {
	// Name is the connection's; its secret is "ike-"+Name.
	Name string
	// Local and Remote are the ends' addresses, and their IDs.
	Local, Remote string
	// Proposals are the IKE proposals.
	Proposals string
	// DPDDelay, when set, is dpd_delay ("0": no DPD).
	DPDDelay string
	// LocalTS and RemoteTS are the child's traffic selectors.
	LocalTS, RemoteTS string
	// Mode, when set, is the child's mode ("tunnel").
	Mode string
	// ESPProposals, when set, are the child's; unset: charon's default.
	ESPProposals string
	// StartAction, when set, is the child's start_action ("start").
	StartAction string
	// PSK is the key.
	PSK []byte
	// SecretBothIDs names both ends' IDs in the secret (id-1, id-2);
	// unset: the remote's only (id).
	SecretBothIDs bool
}

// Swanctl is c's swanctl.conf: the connection and its secret.
func (c PSKConn) Swanctl() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connections {\n  %s {\n    version = 2\n    local_addrs = %s\n    remote_addrs = %s\n    proposals = %s\n",
		c.Name, c.Local, c.Remote, c.Proposals)
	opt(&b, "    ", "dpd_delay", c.DPDDelay)
	fmt.Fprintf(&b, "    local {\n      auth = psk\n      id = %s\n    }\n    remote {\n      auth = psk\n      id = %s\n    }\n", c.Local, c.Remote)
	fmt.Fprintf(&b, "    children {\n      net {\n        local_ts = %s\n        remote_ts = %s\n", c.LocalTS, c.RemoteTS)
	opt(&b, "        ", "mode", c.Mode)
	opt(&b, "        ", "esp_proposals", c.ESPProposals)
	opt(&b, "        ", "start_action", c.StartAction)
	fmt.Fprintf(&b, "      }\n    }\n  }\n}\nsecrets {\n  ike-%s {\n", c.Name)
	if c.SecretBothIDs {
		fmt.Fprintf(&b, "    id-1 = %s\n    id-2 = %s\n", c.Local, c.Remote)
	} else {
		fmt.Fprintf(&b, "    id = %s\n", c.Remote)
	}
	fmt.Fprintf(&b, "    secret = %s\n  }\n}\n", pskValue(c.PSK))
	return b.String()
}

func opt(b *strings.Builder, indent, key, value string) {
	if value != "" {
		fmt.Fprintf(b, "%s%s = %s\n", indent, key, value)
	}
}

// pskValue is psk as swanctl reads it back: a quoted string when that is
// unambiguous, else 0x hex (swanctl decodes a 0x or 0s prefix).
func pskValue(psk []byte) string {
	s := string(psk)
	lower := strings.ToLower(s)
	plain := !strings.HasPrefix(lower, "0x") && !strings.HasPrefix(lower, "0s")
	for _, c := range psk {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			plain = false
		}
	}
	if plain {
		return `"` + s + `"`
	}
	return "0x" + hex.EncodeToString(psk)
}
