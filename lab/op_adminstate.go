package lab

import (
	"context"

	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &AdminStateOp{} }) }

// AdminStateOp sets a link's adminState as Azure's expressRoutePorts API does
// (links[].adminState): Disabled takes the link down at the Microsoft edge —
// the laser off, no frame either way, MKA and BFD included — until Enabled.
// It is independent of the lab's impairments: a restore does not bring an
// administratively disabled link back.
type AdminStateOp struct {
	Link  string       `json:"link"`
	State value.Switch `json:"state"`
}

func (*AdminStateOp) Kind() string { return "adminState" }

func (o *AdminStateOp) Describe() string {
	if o.State {
		return "adminState of " + o.Link + " Enabled (the Microsoft edge's laser on)"
	}
	return "adminState of " + o.Link + " Disabled (the Microsoft edge's laser off: no frames either way)"
}

func (o *AdminStateOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	c.wire("link", c.link("link", o.Link))
	return c.err()
}

func (o *AdminStateOp) Apply(_ context.Context, l *Lab) (any, error) {
	return nil, l.SetAdminState(o.Link, bool(o.State))
}
