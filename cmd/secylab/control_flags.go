package main

import (
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// controlFlags are --control-key and --control-port: the remote control
// endpoint of each half of a lab spanning hosts (lab up --host, lab run
// --host).
type controlFlags struct {
	keyFile     string
	port        uint16
	fingerprint string
}

func (f *controlFlags) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&f.keyFile, "control-key", "", "the lab's control key `FILE` (0600, at least 32 octets as hex: openssl rand -hex 32), the same on every host: "+what)
	cmd.Flags().Uint16Var(&f.port, "control-port", lab.ControlPort, "the TCP port of the halves' remote control endpoints")
}

// spec is the control endpoint of host's half of topo (on its underlay
// address; listen false: the key only), or nil without --control-key.
func (f *controlFlags) spec(topo *topology.Topology, host string, listen bool) (*lab.ControlSpec, error) {
	if f.keyFile == "" {
		return nil, nil
	}
	if host == "" {
		return nil, usagef("--control-key: only with --host, for a lab spanning hosts")
	}
	abs, err := filepath.Abs(f.keyFile)
	if err != nil {
		return nil, err
	}
	k, err := lab.LoadControlKey(abs)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--control-key: %w", err)}
	}
	f.keyFile, f.fingerprint = abs, k.Fingerprint()
	cs := &lab.ControlSpec{KeyFile: abs}
	if listen {
		cs.Listen = f.endpoint(topo.HostNamed(host))
	}
	return cs, nil
}

// endpoint is h's remote control endpoint.
func (f *controlFlags) endpoint(h *topology.Host) string {
	return netip.AddrPortFrom(h.Address, f.port).String()
}
