package lab

import (
	"context"

	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &CutOp{} }) }

// CutOp cuts a link: every frame is lost, both directions, until a restore
// (other impairments stay as they are).
type CutOp struct {
	OnLink `json:",inline" yaml:",inline"`
}

func (o *CutOp) Check(t *topology.Topology) error { return o.checkWire(t) }
func (*CutOp) Kind() string                       { return "cut" }
func (o *CutOp) Describe() string                 { return "cut " + o.Link + " (every frame lost)" }

func (o *CutOp) Apply(_ context.Context, l *Lab) (any, error) {
	return nil, l.setDown(o.Link, true)
}
