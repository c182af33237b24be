package lab

import (
	"context"

	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &RestoreOp{} }) }

// RestoreOp brings a cut link back; its other impairments stay (clear them
// with impair's clear).
type RestoreOp struct {
	OnLink `json:",inline" yaml:",inline"`
}

func (o *RestoreOp) Check(t *topology.Topology) error { return o.checkWire(t) }
func (*RestoreOp) Kind() string                       { return "restore" }
func (o *RestoreOp) Describe() string                 { return "restore " + o.Link }

func (o *RestoreOp) Apply(_ context.Context, l *Lab) (any, error) {
	return nil, l.setDown(o.Link, false)
}
