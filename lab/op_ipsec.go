package lab

import (
	"context"
	"fmt"

	"github.com/secylab/secylab/ipsec/gateway"
	"github.com/secylab/secylab/topology"
)

func init() { register(false, func() Op { return &IPsecSAsOp{} }) }

// IPsecSAsOp lists the IKE SAs and Child SAs of the lab's IKE-keyed
// gateways, as swanctl --list-sas: of one tunnel, one node, or all. Its
// answer is an []IKETunnelSAs.
type IPsecSAsOp struct {
	Tunnel string `json:"tunnel,omitempty" yaml:"tunnel"`
	Node   string `json:"node,omitempty" yaml:"node"`
}

func (*IPsecSAsOp) Kind() string     { return "ipsecSAs" }
func (*IPsecSAsOp) Describe() string { return "IKE SAs and Child SAs" }

func (o *IPsecSAsOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	if o.Tunnel != "" {
		c.tunnel("tunnel", o.Tunnel)
	}
	if o.Node != "" {
		c.node("node", o.Node)
	}
	return c.err()
}

// IKETunnelSAs is one IKE-keyed gateway's SAs.
type IKETunnelSAs struct {
	Tunnel string `json:"tunnel"`
	Node   string `json:"node"`
	// Peer is the node at the tunnel's other end.
	Peer string `json:"peer"`
	gateway.IKESAStatus
}

func (o *IPsecSAsOp) Apply(_ context.Context, l *Lab) (any, error) {
	out := []IKETunnelSAs{}
	for _, te := range l.tunnels {
		tu := te.tunnel
		if te.ike == nil || (o.Tunnel != "" && tu.Name != o.Tunnel) || (o.Node != "" && tu.Ends[te.end].Node != o.Node) {
			continue
		}
		out = append(out, IKETunnelSAs{Tunnel: tu.Name, Node: tu.Ends[te.end].Node, Peer: tu.Ends[1-te.end].Node, IKESAStatus: te.ike.SAs()})
	}
	if len(out) == 0 && (o.Tunnel != "" || o.Node != "") {
		return nil, fmt.Errorf("no IKE-keyed gateway of lab %s matches (tunnel %q, node %q)", l.topo.Name, o.Tunnel, o.Node)
	}
	return out, nil
}

// IPsecSAs asks for the IKE SAs of the lab's gateways.
func (c *Client) IPsecSAs(ctx context.Context, tunnel, node string) ([]IKETunnelSAs, error) {
	var st []IKETunnelSAs
	err := c.call(ctx, &IPsecSAsOp{Tunnel: tunnel, Node: node}, &st)
	return st, err
}
