package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/secylab/secylab/dataplane/capture"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/lab"
)

// exitCode makes main exit with a command's own status (lab exec).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newLabCaptureCmd(o *labOpts) *cobra.Command {
	op := &lab.CaptureOp{}
	var file string
	var duration time.Duration
	var cf captureFlags
	cmd := &cobra.Command{
		Use:   "capture LINK",
		Short: "Capture a link's frames as pcapng (ciphertext on the wire, or cleartext)",
		Long: `Capture the frames of one port of a link as pcapng, readable by Wireshark and
tshark. --side wire (the default) shows what travels on the fibre: MACsec
(EtherType 0x88E5) and MKA (0x888E) frames once MACsec is on. --side clear
shows what the node's IP stack sends and receives. Without -o the capture
goes to stdout (not to a terminal). Stop with Ctrl-C, -c or --duration.

Each frame is cut at 100 octets unless told otherwise (-s; --full keeps
whole frames, which decrypting a capture needs). With -o the capture is a
ring of files (-C 20MB per file, -W 4 files, as tcpdump's): FILE, then
FILE.2, FILE.3… before the extension, the oldest deleted; -C 0 writes one
file without a cap. The files are 0600.`,
		Example: `  secylab lab capture link1 -o link1.pcapng --duration 10s
  secylab lab capture link1 --full -o link1.pcapng -c 1000     # whole frames, to decrypt
  secylab lab capture link1 -o link1.pcapng -C 100MB -W 10
  secylab lab capture link1 --side clear --node msee1 | tshark -r -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op.Link = args[0]
			if op.Side != "" {
				side, err := value.Enum(op.Side, "wire", "clear")
				if err != nil {
					return usagef("--side %v", err)
				}
				op.Side = side
			}
			b, err := cf.bounds()
			if err != nil {
				return err
			}
			op.SnapLen = b.SnapLen
			c, labName, err := o.client()
			if err != nil {
				return err
			}
			var ring *capture.Ring
			if file != "" && file != "-" {
				if ring, err = capture.NewRing(file, b); err != nil {
					return usagef("-o: %w", err)
				}
				defer ring.Close()
			} else if f, ok := cmd.OutOrStdout().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				return usagef("the capture is binary pcapng: give -o FILE or pipe it (| tshark -r -)")
			}
			s, err := c.Stream(cmd.Context(), op)
			if err != nil {
				return labErr(labName, err)
			}
			defer s.Close()
			if duration > 0 {
				s.SetReadDeadline(time.Now().Add(duration))
			}
			if ring == nil {
				_, err = io.Copy(cmd.OutOrStdout(), s)
				if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					return err
				}
				return nil
			}
			return captureToRing(cmd.ErrOrStderr(), s, ring, b)
		},
	}
	f := cmd.Flags()
	f.StringVar(&op.Side, "side", "wire", "wire (ciphertext, the veth) or clear (the node's TAP)")
	f.StringVar(&op.Node, "node", "", "which end of the link (default: the first)")
	f.StringVarP(&file, "out", "o", "", "write the pcapng to `FILE` (0600, a ring of files) instead of stdout")
	f.StringVarP(&file, "write", "w", "", "")
	f.MarkDeprecated("write", "use -o/--out")
	f.IntVarP(&op.Count, "count", "c", 0, "stop after this many frames (0: no limit)")
	f.Var(value.DurationFlag{P: &duration, Range: value.Range{Max: 24 * time.Hour}}, "duration", "stop after this long (0 to 24h; 0: until Ctrl-C)")
	cf.add(cmd, false)
	return cmd
}

// captureToRing writes a capture stream to a ring of files and says on
// stderr what they hold.
func captureToRing(stderr io.Writer, s io.Reader, ring *capture.Ring, b capture.Bounds) error {
	r, err := capture.NewReader(s)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil // nothing came before the deadline: an empty capture
		}
		if err != nil {
			return err
		}
	}
	var readErr error
	for r != nil {
		p, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, io.ErrUnexpectedEOF) {
				readErr = err
			}
			break
		}
		if err := ring.Write(p); err != nil {
			ring.Close()
			return err
		}
	}
	if err := ring.Close(); err != nil {
		return err
	}
	files := ring.Files()
	var frames uint64
	for _, f := range files {
		frames += f.Frames
	}
	gone, rotated := ring.Rotated()
	if d, ok := r.Dropped(); ok && d > 0 {
		fmt.Fprintf(stderr, "the lab dropped %d frames its queue had no room for (this side read too slowly)\n", d)
	}
	fmt.Fprintf(stderr, "captured %d frames in %d file(s) (%s): %s … %s", frames+rotated.Frames, len(files), b, files[0].Name, files[len(files)-1].Name)
	if gone > 0 {
		fmt.Fprintf(stderr, "; the ring deleted %d older file(s) with %d frames", gone, rotated.Frames)
	}
	fmt.Fprintln(stderr)
	return readErr
}

func newLabLinkCmd(o *labOpts) *cobra.Command {
	link := &cobra.Command{Use: "link", Short: "Change a running link: impairments, cut and restore, admin state"}
	op := &lab.ImpairOp{}
	var delay, jitter time.Duration
	var loss value.Loss
	var rate value.Rate
	var down, up bool
	set := &cobra.Command{
		Use:   "set LINK",
		Short: "Set a link's impairments (both directions) while the lab runs",
		Long: `Set what the wire of a link does to frames, in both directions, in user space
(these kernels have no netem): delay and jitter, loss, a rate limit. Flags
not given keep their value; --clear removes every impairment (a cut too)
first. To cut a link and restore it: secylab lab link cut|restore LINK, the
scenario steps' names (--down and --up still work).`,
		Example: `  secylab lab link set link1 --loss 1% --delay 5ms
  secylab lab link set link1 --rate 100Mbit
  secylab lab link set link1 --rate unlimited --loss 0%
  secylab lab link set link1 --clear`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op.Link = args[0]
			f := cmd.Flags()
			if f.Changed("delay") {
				d := value.Duration(delay)
				op.Delay = &d
			}
			if f.Changed("jitter") {
				j := value.Duration(jitter)
				op.Jitter = &j
			}
			if f.Changed("loss") {
				op.Loss = &loss
			}
			if f.Changed("rate") {
				op.Rate = &rate
			}
			if down && up {
				return usagef("--down and --up exclude each other")
			}
			if op.Delay != nil || op.Jitter != nil || op.Loss != nil || op.Rate != nil || op.Clear {
				if err := o.do(cmd, op, ""); err != nil {
					return err
				}
			} else if !down && !up {
				return usagef("nothing to change: give --delay, --jitter, --loss, --rate, --clear, or cut and restore the link")
			}
			switch {
			case down:
				return o.do(cmd, &lab.CutOp{OnLink: lab.OnLink{Link: args[0]}}, args[0]+": cut")
			case up:
				return o.do(cmd, &lab.RestoreOp{OnLink: lab.OnLink{Link: args[0]}}, args[0]+": restored")
			}
			fmt.Fprintln(cmd.OutOrStdout(), op.Describe())
			return nil
		},
	}
	f := set.Flags()
	f.Var(&loss, "loss", `frames lost, 0% to 100%, e.g. "1%"`)
	f.Var(&rate, "rate", `rate limit, 1kbit to 1Tbit, e.g. "100Mbit", or "unlimited"`)
	f.Var(value.DurationFlag{P: &delay, Range: lab.DelayRange}, "delay", "one-way delay, "+lab.DelayRange.String()+", e.g. 5ms")
	f.Var(value.DurationFlag{P: &jitter, Range: lab.JitterRange}, "jitter", "delay varies by up to this much either way, "+lab.JitterRange.String())
	f.BoolVar(&op.Clear, "clear", false, "remove every impairment (a cut too) before applying the other flags")
	f.BoolVar(&down, "down", false, "cut the link (as secylab lab link cut)")
	f.BoolVar(&up, "up", false, "restore a cut link (as secylab lab link restore)")
	cut := &cobra.Command{
		Use:   "cut LINK",
		Short: "Cut a link: every frame is lost, both directions, until restore",
		Long: `Cut LINK as a fibre cut would: every frame is lost in both directions, MKA
and BFD frames too, until secylab lab link restore. The link's other
impairments stay. The scenario step is "cut: LINK".`,
		Example: `  secylab lab link cut link1
  secylab lab bgp        # BFD takes link1's sessions down; traffic moves to link2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.do(cmd, &lab.CutOp{OnLink: lab.OnLink{Link: args[0]}}, args[0]+": cut")
		},
	}
	restore := &cobra.Command{
		Use:   "restore LINK",
		Short: "Restore a cut link (its other impairments stay)",
		Long: `Bring a cut LINK back: frames pass again, MKA secures it anew and BGP comes
back up. Delay, loss and rate stay as set (remove them with
secylab lab link set LINK --clear). The scenario step is "restore: LINK".`,
		Example: `  secylab lab link restore link1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.do(cmd, &lab.RestoreOp{OnLink: lab.OnLink{Link: args[0]}}, args[0]+": restored")
		},
	}
	adminState := &cobra.Command{
		Use:   "admin-state LINK Enabled|Disabled",
		Short: "Set a link's adminState at the Microsoft edge, as Azure's API does (Disabled: the laser off)",
		Long: `Set LINK's adminState as Azure's expressRoutePorts API does: Disabled takes
the link down at the Microsoft edge (the laser off: no frame either way, MKA
and BFD included, so BGP moves to the other link) until Enabled. Unlike a cut,
restoring the link's impairments does not bring it back. The scenario step is
"adminState: {link: LINK, state: Disabled}".`,
		Example: `  secylab lab link admin-state link1 Disabled
  secylab lab link admin-state link1 enabled`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := &lab.AdminStateOp{Link: args[0]}
			if err := op.State.Set(args[1]); err != nil {
				return usagef("STATE %v", err)
			}
			return o.do(cmd, op, args[0]+": adminState "+op.State.String())
		},
	}
	link.AddCommand(set, cut, restore, adminState)
	return link
}

func newLabRouteCmd(o *labOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "route NODE PREFIX VIA",
		Short: "Replace a static route in a node (ip route replace), e.g. to steer traffic off a link",
		Long: `Replace the route to PREFIX in NODE's namespace with one via VIA, as
'ip route replace PREFIX via VIA' run in the node would. The scenario step is
"route: {node, prefix, via}".`,
		Example: `  secylab lab route onprem-host 10.50.0.0/16 10.1.0.2`,
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := &lab.RouteOp{Node: args[0]}
			var err error
			if op.Prefix, err = netip.ParsePrefix(args[1]); err != nil {
				return usagef("PREFIX %q: want a prefix such as 10.50.0.0/16", args[1])
			}
			if op.Via, err = parseAddr("VIA", args[2]); err != nil {
				return err
			}
			return o.do(cmd, op, op.Describe())
		},
	}
}

// client is the control client of the lab the command acts on.
func (o *labOpts) client() (*lab.Client, string, error) {
	labName, err := o.target()
	if err != nil {
		return nil, "", err
	}
	return &lab.Client{Lab: labName, Socket: o.socket(labName)}, labName, nil
}

// do sends op to the lab the command acts on and prints done (if any).
func (o *labOpts) do(cmd *cobra.Command, op lab.Op, done string) error {
	c, labName, err := o.client()
	if err != nil {
		return err
	}
	if err := c.Do(cmd.Context(), op); err != nil {
		return labErr(labName, err)
	}
	if done != "" {
		fmt.Fprintln(cmd.OutOrStdout(), done)
	}
	return nil
}

// labErr names the lab in a refusal; one as bad input exits with status 2.
func labErr(labName string, err error) error {
	var inv *lab.InvalidError
	if errors.As(err, &inv) {
		return usagef("lab %s: %v", labName, err)
	}
	return fmt.Errorf("lab %s: %w", labName, err)
}

// printStateJSON writes v as indented JSON with camelCase keys throughout: the
// lab's own types are tagged so, and the protocol packages' status types are
// written the same way.
func printStateJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var x any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(camelKeys(x))
}

// camelKeys lower-cases the leading capitals of every object key (TxSC →
// txSC, SCI → sci, InPktsOK → inPktsOK) except that a capital run before a
// lower-case letter keeps its last capital (MKACounter → mkaCounter).
func camelKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[camelKey(k)] = camelKeys(x)
		}
		return out
	case []any:
		for i, x := range v {
			v[i] = camelKeys(x)
		}
	}
	return v
}

func camelKey(k string) string {
	for i, c := range k {
		if i == 0 && (c < 'A' || c > 'Z') || !unicode.IsLetter(c) && !unicode.IsDigit(c) {
			return k // a map's key, not a field's name
		}
	}
	r := []rune(k)
	n := 0
	for n < len(r) && unicode.IsUpper(r[n]) {
		n++
	}
	if n > 1 && n < len(r) && unicode.IsLower(r[n]) {
		n-- // the capital that starts the next word
	}
	for i := range n {
		r[i] = unicode.ToLower(r[i])
	}
	return string(r)
}
