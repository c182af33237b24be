package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"

	"github.com/secylab/secylab/internal/kmacsec"
	"github.com/secylab/secylab/macsec/mka"
)

// newMKARunCmd is "secylab mka run --kernel": secylab's KaY keying the
// Linux kernel's macsec, as a linux node runs it instead of wpa_supplicant.
func newMKARunCmd() *cobra.Command {
	var (
		kernel, includeSCI, noReplay bool
		iface, dev, cipher, file     string
		window                       uint32
		priority                     uint8
		hello, life                  time.Duration
		addrs                        []string
	)
	cmd := &cobra.Command{
		Use:   "run --kernel --interface IF --cipher SUITE --key-file FILE",
		Short: "Run secylab's KaY (static-CAK MKA) keying the Linux kernel's macsec device",
		Long: `Run secylab's MKA participant on a physical interface and key the Linux
kernel's macsec over generic netlink: the macsec device (--device, default
macsec0) is created over rtnetlink with the cipher suite (all four, the XPN
ones too: Linux 5.7 and later), the SCI included or omitted, replay
protection and window, encryption on and strict validation; the SAs that
MKA agrees (XPN: 64-bit PNs, SSCI and salt) are installed as the key server
distributes them. Until then the device sends and delivers nothing. This is
what a linux node with "macsec: kernel-kay" runs instead of wpa_supplicant,
whose 2.10 has no XPN. The CAK/CKN key file is read by Azure's rule (see
secylab key --help); keys are never printed, only the CKN and fingerprints.
--address moves addresses onto the macsec device once it exists. Runs until
SIGINT/SIGTERM, then deletes the device.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !kernel {
				return usagef("--kernel is required: the kernel's macsec is the only backend of mka run")
			}
			if iface == "" {
				return usagef("--interface IF is required")
			}
			k, err := loadKeyFlags(cipher, file)
			if err != nil {
				return err
			}
			defer k.Zero()
			var parsed []*netlink.Addr
			for _, a := range addrs {
				p, err := netlink.ParseAddr(a)
				if err != nil {
					return usagef("--address %q: %v", a, err)
				}
				parsed = append(parsed, p)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			return kmacsec.RunKaY(ctx, kmacsec.KaYConfig{
				Device: kmacsec.DeviceConfig{Parent: iface, Name: dev, Suite: k.Suite, Port: 1,
					IncludeSCI: includeSCI, ReplayProtect: !noReplay, ReplayWindow: window},
				PSK: k.PSK, KeyServerPriority: priority, HelloTime: hello, LifeTime: life, Logger: log,
				Ready: func(y *kmacsec.SecY) {
					if err := moveAddrs(iface, y.Link(), parsed); err != nil {
						log.Error("addresses", "err", err)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s created on %s: %s, SCI %s (send_sci %v)\n", dev, iface, k.Suite, y.SCI(), includeSCI)
				},
				Status: func(st mka.Status) {
					fmt.Fprintf(cmd.OutOrStdout(), "MKA: %d peer(s), secured %v\n", len(st.Peers), st.Secured)
				},
			})
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&kernel, "kernel", false, "key the Linux kernel's macsec device (required)")
	fl.StringVar(&iface, "interface", "", "the physical interface (`IF`) MKA and MACsec run on")
	fl.StringVar(&dev, "device", "macsec0", "the macsec device to create")
	fl.StringVar(&cipher, "cipher", "", "cipher suite: GcmAes128, GcmAes256, GcmAesXpn128, GcmAesXpn256")
	fl.StringVar(&file, "key-file", "", "the CAK/CKN key `FILE` (0600)")
	fl.BoolVar(&includeSCI, "include-sci", false, "send the SCI in the SecTAG (Azure's SCI state Enabled); default omitted")
	fl.BoolVar(&noReplay, "no-replay-protect", false, "turn replay protection off")
	fl.Uint32Var(&window, "replay-window", 0, "replay window (packets)")
	fl.Uint8Var(&priority, "priority", 16, "key server priority (lowest wins; 255: never key server)")
	fl.DurationVar(&hello, "hello", mka.DefaultHelloTime, "MKA hello time")
	fl.DurationVar(&life, "life", mka.DefaultLifeTime, "MKA life time")
	fl.StringSliceVar(&addrs, "address", nil, "an address (CIDR) to move from IF to the macsec device (repeatable)")
	return cmd
}

// moveAddrs brings the macsec device up with addrs, removed from the
// physical interface (which then carries only MKA and MACsec).
func moveAddrs(iface string, dev netlink.Link, addrs []*netlink.Addr) error {
	phys, err := netlink.LinkByName(iface)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(phys); err != nil {
		return err
	}
	for _, a := range addrs {
		_ = netlink.AddrDel(phys, a) // absent is fine
		if err := netlink.AddrAdd(dev, a); err != nil {
			return fmt.Errorf("%s on %s: %w", a, dev.Attrs().Name, err)
		}
	}
	return netlink.LinkSetUp(dev)
}
