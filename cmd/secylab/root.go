package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/internal/version"
)

// usageError marks bad input from the user (a flag, a key, a frame); it
// exits with status 2, like a usage error.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "secylab",
		Short: "Rehearse MACsec and IPsec link encryption before production",
		Long: `secylab builds a lab of Linux network namespaces that stands for an Azure
ExpressRoute Direct deployment and runs a userspace IEEE 802.1AE MACsec engine
(GCM-AES-128/256, GCM-AES-XPN-128/256), static-CAK MKA, BGP with BFD and an
IPsec ESP tunnel through it, so you can see with real frames what enabling
MACsec, rotating keys or mismatching keys does.`,
		Example: `  secylab lab up && secylab lab status
  secylab lab run rotate-cak
  secylab --version`,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	root.AddCommand(newBenchCmd())
	root.AddCommand(&cobra.Command{
		Use:     "version",
		Short:   "Print the version of secylab",
		Example: "  secylab version",
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), version.String())
		},
	})
	root.AddCommand(newFrameCmd())
	root.AddCommand(newLabCmd())
	root.AddCommand(newKeyCmd(), newMKACmd(), newIPsecCmd())
	root.AddCommand(newConformanceCmd())
	root.AddCommand(newAzureCmd())
	root.AddCommand(newValidateCmd(), newTopologyCmd())
	return root
}
