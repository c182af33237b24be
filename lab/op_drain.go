package lab

import "context"

func init() { register(true, func() Op { return &DrainOp{} }) }

// DrainOp drains a link as ExpressRoute users do before maintenance on it:
// the customer router facing it prepends its AS on export and lowers the
// local preference on import, so traffic moves to the other link in both
// directions, without loss while both are up.
type DrainOp struct {
	OnLink `json:",inline" yaml:",inline"`
}

func (*DrainOp) Kind() string { return "drain" }

func (o *DrainOp) Describe() string {
	return "drain " + o.Link + " (BGP: AS-path prepend and lower local preference on the customer router)"
}

func (o *DrainOp) Apply(ctx context.Context, l *Lab) (any, error) {
	return nil, l.drain(ctx, o.Link, true)
}
