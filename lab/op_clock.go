package lab

import (
	"context"
	"time"

	"github.com/secylab/secylab/topology"
)

func init() { register(false, func() Op { return &ClockOp{} }) }

// ClockOp answers the lab process's time: lab run measures the offset of
// the far half's clock from its own (as NTP does, by the round trip), to
// put the far half's probe times on its own time line.
type ClockOp struct{}

func (*ClockOp) Kind() string                   { return "clock" }
func (*ClockOp) Describe() string               { return "the lab's clock" }
func (*ClockOp) Check(*topology.Topology) error { return nil }

func (*ClockOp) Apply(context.Context, *Lab) (any, error) { return time.Now(), nil }
