package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/macsec"
)

func newLabMACsecCmd(o *labOpts) *cobra.Command {
	var all, asJSON bool
	cmd := &cobra.Command{
		Use:   "macsec [NODE]",
		Short: "Show the SecY, SAs, counters and MKA state of MACsec ports",
		Long: `Show each MACsec port's SecY in the spirit of 'ip -s macsec show': the cipher
suite, the transmit SC and its SAs with their next PN, the receive SCs and
SAs, the counters (802.1AE-2018 clause 10.7, under the names Linux uses, with
the two that 802.1AE-2018 merged, InPktsNoSA and InPktsNoSAError), and
the MKA participant: key server, peers, the latest and old keys. Keys appear
only as fingerprints. Counters that are zero are left out unless --all.`,
		Example: `  secylab lab macsec
  secylab lab macsec msee1 --all
  secylab lab macsec --json | jq '.[].mka.secured'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, labName, err := o.client()
			if err != nil {
				return err
			}
			node := ""
			if len(args) == 1 {
				node = args[0]
			}
			st, err := c.StatusOf(cmd.Context(), node)
			if err != nil {
				return labErr(labName, err)
			}
			if len(st.Ports) == 0 && node != "" {
				return usagef("lab %s has no port with a data plane on node %q", labName, node)
			}
			if asJSON {
				return printStateJSON(cmd.OutOrStdout(), st.Ports)
			}
			for _, p := range st.Ports {
				printPortMACsec(cmd.OutOrStdout(), p, all)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "show counters that are zero too")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the ports as JSON")
	cmd.AddCommand(newLabMACsecSetCmd(o), newLabMACsecRekeyCmd(o))
	return cmd
}

// MACsecSetHelp says what a MACsec change does, and what goes in clear when.
const macsecSetHelp = `Change the MACsec setting of one end of a link (--node) or both: turn it on or
off, change the cipher or the SCI state, or give a new CAK/CKN. As on a real
router or through the Azure API, each end changes on its own, and a new
setting means a new MKA participant: until the ends agree a SAK, nothing
passes between them.

What goes in clear, and when:
  - While MACsec is on at both ends: nothing. Not during a key, cipher or SCI
    change, and not while the ends disagree: MKA cannot agree a SAK and the
    link carries no data at all (the exercises rotate-cak, key-mismatch and
    cipher-mismatch assert it on the captured wire).
  - --off --node N: N's own traffic (ARP, BGP, BFD and everything routed over
    the link) goes onto the wire in clear. The peer, still on, drops it, and N
    drops the peer's protected frames, so nothing passes, but what N sends
    crosses the fibre readable.
  - --off on both ends: everything in clear, as before MACsec was enabled.

Keys, by Azure's rule (see secylab key --help): a CAK shorter than the
cipher takes is padded with zeros and a notice says so; a key refused exits
with status 2. A --cipher change alone keeps the key as given and reads it
for the new cipher, padded or refused, as Azure does with the same Key Vault
secrets. --key-file FILE reads a CAK/CKN key file (0600) in the lab process;
--new-key NAME uses the lab's generated key NAME (a name: [a-z0-9-], never a
path), made on first use, so the other end can later be given the same key
by the same name. --new-cak on one end (--node) gives it a fresh CAK under
its current CKN: a CAK mismatch. Without --node, both ends get the same new
CAK/CKN, and the link comes back up secured.`

func newLabMACsecSetCmd(o *labOpts) *cobra.Command {
	op := &lab.MACsecOp{}
	var on, off bool
	var keyFile, newKey string
	var cipher value.Cipher
	var sci value.Switch
	cmd := &cobra.Command{
		Use:   "set LINK",
		Short: "Change MACsec on a link's ends while the lab runs, as a real change would",
		Long:  macsecSetHelp,
		Example: `  secylab lab macsec set link1 --node msee1 --new-key rotated   # rotate one side
  secylab lab macsec set link1 --node ce1 --new-key rotated     # then the other
  secylab lab macsec set link1 --new-cak                        # both ends at once, the same new CAK/CKN
  secylab lab macsec set link2 --cipher GcmAesXpn128 --new-key x128
  secylab lab macsec set link1 --node ce1 --sci enabled
  secylab lab macsec set link2 --off
  secylab lab macsec set link2 --on`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op.Link = args[0]
			f := cmd.Flags()
			switch {
			case on && off:
				return usagef("--on and --off exclude each other")
			case keyFile != "" && newKey != "":
				return usagef("--key-file and --new-key exclude each other")
			case on || off:
				v := value.Switch(on)
				op.State = &v
			}
			if f.Changed("cipher") {
				op.Cipher = cipher
			}
			if f.Changed("sci") {
				op.SCI = &sci
			}
			var err error
			if keyFile != "" {
				if op.Key, err = value.ParseKeySource(keyFile); err != nil || op.Key.Generate != "" {
					return usagef("--key-file %q: a key file's path", keyFile)
				}
			}
			if f.Changed("new-key") {
				if op.Key, err = value.ParseKeySource("generate:" + newKey); err != nil {
					return usagef("--new-key: %v", err)
				}
			}
			c, labName, err := o.client()
			if err != nil {
				return err
			}
			var res lab.MACsecResult
			if err := c.DoResult(cmd.Context(), op, &res); err != nil {
				return labErr(labName, err)
			}
			for _, n := range res.Notices {
				fmt.Fprintf(cmd.OutOrStdout(), "notice: %s\n", n)
			}
			fmt.Fprintln(cmd.OutOrStdout(), args[0]+": MACsec changed (see secylab lab macsec)")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&op.Node, "node", "", "change only this node's end (default: both)")
	f.BoolVar(&on, "on", false, "turn MACsec on (from the link's configuration, or GcmAesXpn256 with a generated key)")
	f.BoolVar(&off, "off", false, "turn MACsec off: this end's traffic goes onto the wire in clear (see above)")
	f.Var(&cipher, "cipher", value.CipherValues)
	f.Var(&sci, "sci", "SCI state: "+value.SwitchValues+", any case")
	f.StringVar(&keyFile, "key-file", "", "a CAK/CKN key `FILE` (0600), read by the lab process")
	f.StringVar(&keyFile, "key", "", "")
	f.MarkDeprecated("key", "use --key-file")
	f.StringVar(&newKey, "new-key", "", "the lab's generated key `NAME` ([a-z0-9-], made on first use)")
	f.BoolVar(&op.NewCAK, "new-cak", false, "fresh random keys: with --node a new CAK under the current CKN (a CAK mismatch); without, the same new CAK/CKN on both ends")
	return cmd
}

func newLabMACsecRekeyCmd(o *labOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "rekey LINK",
		Short: "Make the link's MKA key server distribute a new SAK now",
		Long: `Make the MKA key server of LINK distribute a new SAK now, as a PN
approaching exhaustion or a new live peer would: the SecYs move to the next
AN without losing a frame.`,
		Example: `  secylab lab macsec rekey link1
  secylab lab macsec link1   # the latest key's KN and AN moved on`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.do(cmd, &lab.RekeyOp{OnLink: lab.OnLink{Link: args[0]}}, args[0]+": new SAK distributed")
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
