package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/macsec"
)

func newLabMACsecCmd(o *labOpts) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "macsec [NODE]",
		Short: "Show the SecY, SAs, counters and MKA state of MACsec ports",
		Long: `Show each MACsec port's SecY in the spirit of 'ip -s macsec show': the cipher
suite, the transmit SC and its SAs with their next PN, the receive SCs and
SAs, the counters (802.1AE-2018 clause 10.7, under the names Linux uses, with
the two that 802.1AE-2018 merged, InPktsNoSA and InPktsNoSAError), and
the MKA participant: key server, peers, the latest and old keys. Keys appear
only as fingerprints. Counters that are zero are left out unless --all.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			labName, err := o.target()
			if err != nil {
				return err
			}
			req := lab.Request{Cmd: "status"}
			if len(args) == 1 {
				req.Node = args[0]
			}
			resp, err := lab.Call(o.socket(labName), req)
			if err != nil {
				return fmt.Errorf("lab %s: %w", labName, err)
			}
			if len(resp.Status.Ports) == 0 && req.Node != "" {
				return usagef("lab %s has no port with a data plane on node %q", labName, req.Node)
			}
			for _, p := range resp.Status.Ports {
				printPortMACsec(cmd.OutOrStdout(), p, all)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "show counters that are zero too")
	cmd.AddCommand(newLabMACsecSetCmd(o), newLabMACsecRekeyCmd(o))
	return cmd
}

func newLabMACsecSetCmd(o *labOpts) *cobra.Command {
	var nodeName, cipher, sci, keyFile, newKey string
	var off, newCAK bool
	cmd := &cobra.Command{
		Use:   "set LINK",
		Short: "Change MACsec on a link's ends while the lab runs, as a real change would",
		Long: `Change the MACsec setting of one end of a link (--node) or both: turn it off or
on, change the cipher or the SCI state, or give a new CAK/CKN. As on a real
router or through the Azure API, each end changes on its own: while the ends
disagree MKA cannot agree a key and nothing passes — never cleartext.

--key FILE reads a CAK/CKN key file (0600) in the lab process; --new-key NAME
uses the lab's generated key NAME (made on first use), so that the other end
can later be given the same key by the same name.`,
		Example: `  secylab lab macsec set link1 --node msee1 --new-key rotated   # rotate one side
  secylab lab macsec set link1 --node ce1 --new-key rotated     # then the other
  secylab lab macsec set link2 --cipher GcmAesXpn128 --new-key x128
  secylab lab macsec set link2 --off`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c lab.MACsecChange
			c.Off = off
			if cipher != "" {
				if _, err := cipherFlag(cipher); err != nil {
					return err
				}
				c.Cipher = cipher
			}
			switch sci {
			case "":
			case "on", "Enabled":
				v := true
				c.IncludeSCI = &v
			case "off", "Disabled":
				v := false
				c.IncludeSCI = &v
			default:
				return usagef("--sci %q: want on (Enabled) or off (Disabled)", sci)
			}
			switch {
			case keyFile != "" && newKey != "":
				return usagef("--key and --new-key exclude each other")
			case keyFile != "":
				abs, err := filepath.Abs(keyFile)
				if err != nil {
					return err
				}
				c.Key = abs
			case newKey != "":
				c.Key = "generate:" + newKey
			}
			if newCAK {
				if c.Key != "" {
					return usagef("--new-cak excludes --key and --new-key")
				}
				c.NewCAK = true
			}
			if off && (c.Cipher != "" || c.IncludeSCI != nil || c.Key != "" || c.NewCAK) {
				return usagef("--off excludes the other settings")
			}
			if c == (lab.MACsecChange{}) {
				return usagef("nothing to change: give --off, --cipher, --sci, --key, --new-key or --new-cak")
			}
			labName, err := o.target()
			if err != nil {
				return err
			}
			if _, err := lab.Call(o.socket(labName), lab.Request{Cmd: "macsec-set", Link: args[0], Node: nodeName, MACsec: &c}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: MACsec changed (see secylab lab macsec)\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&nodeName, "node", "", "change only this node's end (default: both)")
	cmd.Flags().BoolVar(&off, "off", false, "turn MACsec off: frames pass in clear")
	cmd.Flags().StringVar(&cipher, "cipher", "", "GcmAes128, GcmAes256, GcmAesXpn128 or GcmAesXpn256")
	cmd.Flags().StringVar(&sci, "sci", "", "SCI state: on (Enabled) or off (Disabled)")
	cmd.Flags().StringVar(&keyFile, "key", "", "a CAK/CKN key `FILE` (0600)")
	cmd.Flags().StringVar(&newKey, "new-key", "", "the lab's generated key `NAME` (made on first use)")
	cmd.Flags().BoolVar(&newCAK, "new-cak", false, "a fresh random CAK under the current CKN (a CAK mismatch when given to one end)")
	return cmd
}

func newLabMACsecRekeyCmd(o *labOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "rekey LINK",
		Short: "Make the link's MKA key server distribute a new SAK now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			labName, err := o.target()
			if err != nil {
				return err
			}
			if _, err := lab.Call(o.socket(labName), lab.Request{Cmd: "rekey", Link: args[0]}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: new SAK distributed\n", args[0])
			return nil
		},
	}
}

func printPortMACsec(w io.Writer, p lab.PortStatus, all bool) {
	fmt.Fprintf(w, "%s:%s (link %s, TAP %s, wire %s): ", p.Node, p.Name, p.Link, p.TAP, p.Wire)
	if !p.MACsec || p.SecY == nil {
		fmt.Fprintln(w, "MACsec off: frames pass unchanged")
		return
	}
	y := p.SecY
	fmt.Fprintf(w, "MACsec %s (%s), SCI %s, operational %v\n", y.Suite, y.Suite.AzureName(), y.SCI, y.Operational)
	counters(w, "    SecY:", y.Stats.Counters(), all)
	if n, e := y.InPktsNoSA(), y.InPktsNoSAError(); all || n+e > 0 {
		fmt.Fprintf(w, "    802.1AE-2018: InPktsNoSA %d, InPktsNoSAError %d\n", n, e)
	}
	fmt.Fprintf(w, "    TXSC %s, encoding SA %d\n", y.SCI, y.EncodingSA)
	counters(w, "      ", y.TxSC.Stats.Counters(), all)
	for _, sa := range y.TxSC.SAs {
		fmt.Fprintf(w, "      %d: PN %d, state %s, key %s%s\n", sa.AN, sa.NextPN, onOff(sa.Active), sa.Fingerprint, ssci(y.Suite, sa.SSCI))
		counters(w, "         ", sa.Stats.Counters(), all)
	}
	for _, sc := range y.RxSCs {
		fmt.Fprintf(w, "    RXSC %s\n", sc.SCI)
		counters(w, "      ", sc.Stats.Counters(), all)
		for _, sa := range sc.SAs {
			fmt.Fprintf(w, "      %d: PN %d (lowest acceptable %d), state %s, key %s%s\n", sa.AN, sa.NextPN, sa.LowestPN, onOff(sa.Active), sa.Fingerprint, ssci(y.Suite, sa.SSCI))
			counters(w, "         ", sa.Stats.Counters(), all)
		}
	}
	if m := p.MKA; m != nil {
		role := "member"
		if m.KeyServer {
			role = "key server"
		}
		fmt.Fprintf(w, "    MKA: CKN %s, CAK %s, MI %s, %s, secured %v\n", m.CKN, m.CAKFingerprint, m.MI, role, m.Secured)
		for _, peer := range m.Peers {
			state := "potential"
			if peer.Live {
				state = "live"
			}
			fmt.Fprintf(w, "      peer %s MI %s MN %d priority %d: %s\n", peer.SCI, peer.MI, peer.MN, peer.Priority, state)
		}
		if k := m.Latest; k != nil {
			fmt.Fprintf(w, "      latest key KN %d AN %d rx %v tx %v SAK %s\n", k.KI.KN, k.AN, k.Rx, k.Tx, k.SAKFingerprint)
		}
		if k := m.Old; k != nil {
			fmt.Fprintf(w, "      old key    KN %d AN %d rx %v tx %v SAK %s\n", k.KI.KN, k.AN, k.Rx, k.Tx, k.SAKFingerprint)
		}
		if c := p.MKACounter; c != nil {
			counters(w, "      MKA:", c.Counters(), all)
		}
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func ssci(s macsec.CipherSuite, v macsec.SSCI) string {
	if !s.XPN() {
		return ""
	}
	return fmt.Sprintf(", SSCI %d", v)
}

// counters prints a list of counters on one line, the zero ones too
// when all.
func counters(w io.Writer, prefix string, list []macsec.Counter, all bool) {
	var parts []string
	for _, c := range list {
		if all || c.Value != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c.Name, c.Value))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "%s %s\n", prefix, strings.Join(parts, ", "))
	}
}
