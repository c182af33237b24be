package lab

import (
	"context"
	"errors"
	"fmt"

	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &RekeyOp{} }) }

// RekeyOp makes the MKA key server of a link distribute a new SAK now.
type RekeyOp struct {
	OnLink `json:",inline" yaml:",inline"`
}

func (o *RekeyOp) Check(t *topology.Topology) error { return o.checkWire(t) }
func (*RekeyOp) Kind() string                       { return "rekey" }
func (o *RekeyOp) Describe() string {
	return "rekey " + o.Link + " (a new SAK from the MKA key server)"
}

func (o *RekeyOp) Apply(_ context.Context, l *Lab) (any, error) {
	ps, err := l.LinkPorts(o.Link)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, p := range ps {
		if p == nil {
			continue
		}
		err := p.Rekey()
		if err == nil {
			return nil, nil // this end is the key server
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("rekey %s: %w", o.Link, errors.Join(errs...))
}
