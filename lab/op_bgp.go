package lab

import (
	"context"
	"fmt"
)

func init() { register(false, func() Op { return &BGPOp{} }) }

// BGPOp asks for the BGP routers' detail — sessions, timers, BFD, prefixes
// and each one's Loc-RIB (or a daemon's own view) — of one node or all. Its
// answer is a []BGPStatus.
type BGPOp struct {
	OfNode `json:",inline" yaml:",inline"`
}

func (*BGPOp) Kind() string     { return "bgp" }
func (*BGPOp) Describe() string { return "BGP detail" }

func (o *BGPOp) Apply(_ context.Context, l *Lab) (any, error) {
	out := []BGPStatus{}
	for _, r := range l.routers {
		if o.Node == "" || r.node == o.Node {
			out = append(out, r.status(true))
		}
	}
	if o.Node != "" && len(out) == 0 {
		return nil, fmt.Errorf("node %q runs no BGP in lab %s", o.Node, l.topo.Name)
	}
	return out, nil
}
