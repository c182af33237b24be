package lab

import "context"

func init() { register(true, func() Op { return &UndrainOp{} }) }

// UndrainOp undoes a drain: the customer router's configured policies on
// the link again, and traffic returns to it.
type UndrainOp struct {
	OnLink `json:",inline" yaml:",inline"`
}

func (*UndrainOp) Kind() string       { return "undrain" }
func (o *UndrainOp) Describe() string { return "undrain " + o.Link }

func (o *UndrainOp) Apply(ctx context.Context, l *Lab) (any, error) {
	return nil, l.drain(ctx, o.Link, false)
}
