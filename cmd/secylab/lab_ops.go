package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/secylab/secylab/dataplane"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// exitCode makes main exit with a command's own status (lab exec).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newLabCaptureCmd(o *labOpts) *cobra.Command {
	var side, nodeName, file string
	var count int
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "capture LINK",
		Short: "Capture a link's frames as pcapng (ciphertext on the wire, or cleartext)",
		Long: `Capture the frames of one port of a link as pcapng, readable by Wireshark and
tshark. --side wire (the default) shows what travels on the fibre: MACsec
(EtherType 0x88E5) and MKA (0x888E) frames once MACsec is on. --side clear
shows what the node's IP stack sends and receives. Without -w the capture
goes to stdout (not to a terminal). Stop with Ctrl-C, -c or --duration.`,
		Example: `  secylab lab capture link1 -w link1.pcapng --duration 10s
  secylab lab capture link1 --side clear --node msee1 | tshark -r -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if side != "wire" && side != "clear" {
				return usagef("--side %q: want wire or clear", side)
			}
			labName, err := o.target()
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			if file != "" && file != "-" {
				f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			} else if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				return usagef("the capture is binary pcapng: give -w FILE or pipe it (| tshark -r -)")
			}
			c, err := lab.Capture(o.socket(labName), lab.Request{Cmd: "capture", Link: args[0], Node: nodeName, Side: side, Count: count})
			if err != nil {
				return fmt.Errorf("lab %s: %w", labName, err)
			}
			defer c.Close()
			if duration > 0 {
				c.SetReadDeadline(time.Now().Add(duration))
			}
			_, err = io.Copy(w, c)
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&side, "side", "wire", "wire (ciphertext, the veth) or clear (the node's TAP)")
	cmd.Flags().StringVar(&nodeName, "node", "", "which end of the link (default: the first)")
	cmd.Flags().StringVarP(&file, "write", "w", "", "write the pcapng to FILE (0600) instead of stdout")
	cmd.Flags().IntVarP(&count, "count", "c", 0, "stop after this many frames")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long")
	return cmd
}

func newLabLinkCmd(o *labOpts) *cobra.Command {
	link := &cobra.Command{Use: "link", Short: "Change a running link: impairments, cut and restore"}
	var loss, rate string
	var delay, jitter time.Duration
	var down, up, clear bool
	set := &cobra.Command{
		Use:   "set LINK",
		Short: "Set a link's impairments (both directions) while the lab runs",
		Long: `Set what the wire of a link does to frames, in both directions, in user space
(these kernels have no netem): delay and jitter, loss, a rate limit, or a
cut (--down, restored with --up). Flags not given keep their value; --clear
removes every impairment first.`,
		Example: `  secylab lab link set link1 --loss 1% --delay 5ms
  secylab lab link set link1 --down
  secylab lab link set link1 --clear`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			labName, err := o.target()
			if err != nil {
				return err
			}
			sock := o.socket(labName)
			resp, err := lab.Call(sock, lab.Request{Cmd: "status"})
			if err != nil {
				return fmt.Errorf("lab %s: %w", labName, err)
			}
			var im dataplane.Impairment
			found := false
			for _, p := range resp.Status.Ports {
				if p.Link == args[0] {
					im, found = p.Impairment, true
					break
				}
			}
			if !found {
				return usagef("lab %s has no link %q with a userspace data plane (see secylab lab status)", labName, args[0])
			}
			if clear {
				im = dataplane.Impairment{}
			}
			f := cmd.Flags()
			if f.Changed("delay") {
				im.Delay = delay
			}
			if f.Changed("jitter") {
				im.Jitter = jitter
			}
			if f.Changed("loss") {
				v, err := topology.ParseLoss(loss)
				if err != nil {
					return usagef("--loss: %v", err)
				}
				im.Loss = v / 100
			}
			if f.Changed("rate") {
				v, err := topology.ParseRate(rate)
				if err != nil {
					return usagef("--rate: %v", err)
				}
				im.Rate = v
			}
			if down && up {
				return usagef("--down and --up exclude each other")
			}
			if down {
				im.Down = true
			}
			if up {
				im.Down = false
			}
			if _, err := lab.Call(sock, lab.Request{Cmd: "link-set", Link: args[0], Impairment: &im}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], im)
			return nil
		},
	}
	set.Flags().StringVar(&loss, "loss", "", `frames lost, e.g. "1%"`)
	set.Flags().StringVar(&rate, "rate", "", `rate limit, e.g. "100Mbit" ("0": unlimited)`)
	set.Flags().DurationVar(&delay, "delay", 0, "one-way delay, e.g. 5ms")
	set.Flags().DurationVar(&jitter, "jitter", 0, "delay varies by up to this much either way")
	set.Flags().BoolVar(&down, "down", false, "cut the link: every frame is lost")
	set.Flags().BoolVar(&up, "up", false, "restore a cut link")
	set.Flags().BoolVar(&clear, "clear", false, "remove every impairment before applying the other flags")
	link.AddCommand(set)
	return link
}
