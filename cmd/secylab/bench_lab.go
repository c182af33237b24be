package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/bench"
)

// defaultCharon is where Debian's strongswan-charon puts the daemon.
const defaultCharon = "/usr/lib/ipsec/charon"

func newBenchLabCmd() *cobra.Command {
	var cipher, wgBin, charonBin string
	var duration time.Duration
	var runs int
	var asJSON, noAnchors bool
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "TCP throughput through a lab link (MACsec, MACsec on a VLAN, no crypto, kernel veth, IPsec over MACsec) beside wireguard-go and strongSwan",
		Long: `Build a throwaway two-router lab with four links and measure one iperf3 TCP
stream across each, in turns, --runs times: through secylab's userspace
forwarder with MACsec, the same with the stream on a circuit's peering
(802.1Q VLAN 100, tagged and untagged by the forwarder inside MACsec),
through the same forwarder without crypto, and over a plain kernel veth; and
through an IPsec ESP tunnel between two gateways, riding the MACsec link.

In the same runs, interleaved with those paths, it measures the anchors
between two namespaces of their own joined by a veth: wireguard-go (if a
wireguard-go binary is on PATH or given with --wireguard-go; .ci/setup
--wireguard-go builds one) and strongSwan's charon with kernel-libipsec
(if installed; Debian packages strongswan-charon, strongswan-swanctl,
libstrongswan-standard-plugins), and prints each secylab path's ratio to
each anchor, run by run, and the median of those ratios.

Needs root and iperf3 (Debian package iperf3). Everything is removed at the
end, also on Ctrl-C. The 1-minute load average is printed before the runs
and after each: the measurement itself keeps two CPUs busy, so a load well
above 2 means other work shared the machine.`,
		Example: `  secylab bench lab
  secylab bench lab --runs 3 --wireguard-go ~/go/bin/wireguard
  secylab bench lab --cipher GcmAes128 --duration 10s --runs 5 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			suite, err := cipherFlag(cipher)
			if err != nil {
				return err
			}
			if runs < 1 {
				return usagef("--runs %d: at least 1", runs)
			}
			if duration < time.Second {
				return usagef("--duration %v: at least 1s (iperf3 counts whole seconds)", duration)
			}
			if _, err := exec.LookPath("iperf3"); err != nil {
				return errors.New("bench lab needs iperf3 (apt-get install iperf3)")
			}
			if err := needRoot(); err != nil {
				return err
			}
			cfg := bench.LabConfig{Cipher: suite.AzureName(), Duration: duration, Runs: runs}
			if !noAnchors {
				if cfg.WireGuardGo, err = anchorBinary("wireguard-go", wgBin, "wireguard-go"); err != nil {
					return err
				}
				if cfg.WireGuardGo == "" {
					cfg.Notes = append(cfg.Notes, "wireguard-go: no wireguard-go on PATH (.ci/setup --wireguard-go builds it, or give --wireguard-go PATH); left out")
				}
				if cfg.Charon, err = anchorBinary("charon", charonBin, defaultCharon); err != nil {
					return err
				}
				if cfg.Charon == "" {
					cfg.Notes = append(cfg.Notes, "strongswan: no "+defaultCharon+" (Debian package strongswan-charon, or give --charon PATH); left out")
				}
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer cancel()
			if isTerminal(os.Stderr) {
				cfg.Progress = cmd.ErrOrStderr()
			}
			rep, err := bench.RunLab(ctx, cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			bench.WriteLabTable(out, rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&cipher, "cipher", "GcmAesXpn256", "cipher suite of the MACsec link")
	cmd.Flags().DurationVar(&duration, "duration", 5*time.Second, "length of each iperf3 run")
	cmd.Flags().IntVar(&runs, "runs", 3, "runs per path (the median is reported)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&wgBin, "wireguard-go", "", "wireguard-go binary of the anchor (default: wireguard-go on PATH, left out if there is none)")
	cmd.Flags().StringVar(&charonBin, "charon", "", "strongSwan charon binary of the anchor (default: "+defaultCharon+", left out if absent)")
	cmd.Flags().BoolVar(&noAnchors, "no-anchors", false, "measure secylab's paths alone")
	return cmd
}

// anchorBinary resolves an anchor's binary: the flag's value must exist;
// without it, def (a name on PATH or a path) is used if it exists, else "".
func anchorBinary(flag, value, def string) (string, error) {
	if value != "" {
		p, err := exec.LookPath(value)
		if err != nil {
			return "", usagef("--%s %s: %v", flag, value, err)
		}
		return p, nil
	}
	p, err := exec.LookPath(def)
	if err != nil {
		return "", nil
	}
	return p, nil
}
