package lab

import (
	"context"
	"fmt"

	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &IPsecRekeyOp{} }) }

// IPsecRekeyOp gives a tunnel fresh ESP keys (same SPIs): on both gateways
// (Node ""), the same keys, as a coordinated change; or on one only, which
// keeps the old keys on the other: a mismatch, and every packet between
// them is dropped.
type IPsecRekeyOp struct {
	Tunnel string `json:"tunnel"`
	Node   string `json:"node,omitempty"`
}

func (*IPsecRekeyOp) Kind() string { return "ipsecRekey" }

func (o *IPsecRekeyOp) Describe() string {
	if o.Node != "" {
		return "new ESP keys for tunnel " + o.Tunnel + " on " + o.Node + " only"
	}
	return "new ESP keys for tunnel " + o.Tunnel + " on both gateways"
}

func (o *IPsecRekeyOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	tu := c.tunnel("tunnel", o.Tunnel)
	if tu != nil && o.Node != "" && tu.Ends[0].Node != o.Node && tu.Ends[1].Node != o.Node {
		c.errorf("node", "%q is no gateway of tunnel %s: want %s or %s", o.Node, tu.Name, tu.Ends[0].Node, tu.Ends[1].Node)
	}
	return c.err()
}

func (o *IPsecRekeyOp) Apply(_ context.Context, l *Lab) (any, error) {
	var tu *topology.Tunnel
	for _, t := range l.topo.Tunnels {
		if t.Name == o.Tunnel {
			tu = t
		}
	}
	keys, err := newTunnelKeys(tu.KeyBits)
	if err != nil {
		return nil, err
	}
	done := 0
	for _, te := range l.tunnels {
		if te.tunnel != tu || o.Node != "" && tu.Ends[te.end].Node != o.Node {
			continue
		}
		done++
		b := te.gw.Backend()
		states, err := b.States()
		if err != nil {
			return nil, err
		}
		for _, st := range states {
			cfg := st.Config
			// keys[0] carries end 0 → end 1: end 0's out SA, end 1's in SA.
			k := te.end
			if cfg.Dir == ipsec.DirIn {
				k = 1 - te.end
			}
			if err := b.DelSA(cfg.SPI, cfg.Dst); err != nil {
				return nil, err
			}
			cfg.KEYMAT = keys[k].keymat
			if err := b.AddSA(cfg); err != nil {
				return nil, err
			}
		}
	}
	if done == 0 {
		return nil, fmt.Errorf("tunnel %s has no gateway on node %q", o.Tunnel, o.Node)
	}
	return nil, nil
}
