package lab

import (
	"context"
	"fmt"

	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &BGPResetOp{} }) }

// BGPResetOp resets the BGP sessions of a node over a link (Cease /
// Administrative Reset), also one held down after exceeding the maximum
// prefixes. Link may name one peering's session (link1.200) instead.
type BGPResetOp struct {
	Node string `json:"node"`
	Link string `json:"link"`
}

func (*BGPResetOp) Kind() string { return "bgpReset" }
func (o *BGPResetOp) Describe() string {
	return fmt.Sprintf("reset the BGP sessions of %s over %s", o.Node, o.Link)
}

func (o *BGPResetOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	c.node("node", o.Node)
	if n := t.Node(o.Node); n != nil && n.BGP != nil && n.BGP.Neighbor(o.Link) != nil && t.Link(o.Link) == nil {
		return nil // one peering's session
	}
	c.end("node", c.link("link", o.Link), o.Node)
	return c.err()
}

func (o *BGPResetOp) Apply(_ context.Context, l *Lab) (any, error) {
	r := l.router(o.Node)
	if r == nil || r.speaker == nil {
		return nil, fmt.Errorf("node %q runs no secylab BGP speaker in lab %s", o.Node, l.topo.Name)
	}
	nbs := r.cfg.OnLink(o.Link)
	if nb := r.cfg.Neighbor(o.Link); len(nbs) == 0 && nb != nil {
		nbs = []*topology.BGPNeighbor{nb}
	}
	if len(nbs) == 0 {
		return nil, fmt.Errorf("%s has no BGP neighbour on link %q", o.Node, o.Link)
	}
	for _, nb := range nbs {
		if err := r.speaker.Reset(nb.Peer); err != nil {
			return nil, err
		}
	}
	return nil, nil
}
