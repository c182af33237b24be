package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/lab"
)

func newLabExportCmd() *cobra.Command {
	var format, dir, name string
	var o lab.ContainerlabOptions
	cmd := &cobra.Command{
		Use:   "export TOPOLOGY --format containerlab",
		Short: "Write the lab's topology for another tool (containerlab)",
		Long: `Write a containerlab topology of the same nodes and links as TOPOLOGY (a file
or a built-in), for a team that runs containerlab: DIR/NAME.clab.yml, and
beside it under DIR/NAME/ the files its nodes bind.

The two ends of each MACsec link are secylab nodes: containers of the image
` + lab.ClabSecylabImage + ` (build it in a clone: docker build -t ` + lab.ClabSecylabImage + ` -f
deploy/containerlab/Dockerfile .) whose exec runs secylab lab up of the node
as a lab of its own, DIR/NAME/NODE/topology.yaml: the node as TOPOLOGY has it
(addresses, peering VLANs, routes, BGP with BFD, the Microsoft edge's policy
too), each neighbour an external end on the container's interface eth1, eth2,
... (one per port, in the order of their names), so its port runs the same
SecY and MKA (cipher, SCI, replay window, key) on the veth containerlab makes.
Each link's key is a file DIR/NAME/keys/LINK.key (0600), bound read-only
into its two ends' containers, never written in the YAML: a placeholder to
fill (secylab key gen, or the Key Vault secrets), or with --write-keys the
link's key (a key file's pair; a new random pair for secret: generate). A
placeholder left there is not overwritten by a later export without
--write-keys.

The other nodes are kind linux (hosts ` + lab.ClabHostImage + `, routers
` + lab.ClabRouterImage + `: replace the images as you need) with their
addresses, static routes and forwarding as exec commands and a customer
router's BGP with BFD as FRR's frr.conf (secylab lab config NODE --format
frr, no secrets), under DIR/NAME/NODE/frr.conf; an external node's ports are
containerlab host endpoints (host:INTERFACE).

Not carried over: impairments (containerlab's tools netem does them), IPsec
tunnels, the Azure emulator and the Azure port model, the Microsoft edge's
policy on a node that is no MACsec end, exercises, probes and captures
(secylab lab capture inside a secylab node captures its own ports).`,
		Example: `  secylab lab export expressroute-direct --format containerlab --dir clab --write-keys
  docker build -t ` + lab.ClabSecylabImage + ` -f deploy/containerlab/Dockerfile .
  sudo containerlab deploy -t clab/er.clab.yml
  docker exec clab-er-ce1 secylab lab status`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "containerlab" {
				return usagef("--format %q: want containerlab", format)
			}
			topo, err := loadTopology(args[0])
			if err != nil {
				return &usageError{err}
			}
			if cmd.Flags().Changed("name") {
				if err := topo.Rename(name); err != nil {
					return &usageError{err}
				}
			}
			ex, err := lab.ExportContainerlab(topo, dir, o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), ex.Path)
			if len(ex.Placeholders) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "key files to fill before deploying (CKN= and CAK=, mode 0600), or export with --write-keys:\n")
				for _, p := range ex.Placeholders {
					fmt.Fprintf(cmd.ErrOrStderr(), "  %s\n", p)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "containerlab", "the output format: containerlab")
	cmd.Flags().StringVar(&dir, "dir", ".", "write into this `DIR`")
	cmd.Flags().StringVar(&name, "name", "", "export the topology under this lab name (containerlab's lab name too)")
	cmd.Flags().BoolVar(&o.WriteKeys, "write-keys", false, "write the links' keys into the key files (0600): a key file's pair, a new random one for secret: generate; without it they are placeholders")
	return cmd
}
