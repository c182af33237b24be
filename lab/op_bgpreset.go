package lab

import (
	"context"
	"fmt"

	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &BGPResetOp{} }) }

// BGPResetOp resets the BGP session of a node over a link (Cease /
// Administrative Reset), also one held down after exceeding the maximum
// prefixes.
type BGPResetOp struct {
	Node string `json:"node"`
	Link string `json:"link"`
}

func (*BGPResetOp) Kind() string { return "bgpReset" }
func (o *BGPResetOp) Describe() string {
	return fmt.Sprintf("reset the BGP session of %s over %s", o.Node, o.Link)
}

func (o *BGPResetOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	c.node("node", o.Node)
	c.end("node", c.link("link", o.Link), o.Node)
	return c.err()
}

func (o *BGPResetOp) Apply(_ context.Context, l *Lab) (any, error) {
	r := l.router(o.Node)
	if r == nil || r.speaker == nil {
		return nil, fmt.Errorf("node %q runs no secylab BGP speaker in lab %s", o.Node, l.topo.Name)
	}
	nb := r.cfg.Neighbor(o.Link)
	if nb == nil {
		return nil, fmt.Errorf("%s has no BGP neighbour on link %q", o.Node, o.Link)
	}
	return nil, r.speaker.Reset(nb.Peer)
}
