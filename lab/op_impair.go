package lab

import (
	"context"
	"strings"
	"time"

	"github.com/secylab/secylab/dataplane"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &ImpairOp{} }) }

// Impairment ranges: what a wire can sensibly do.
var (
	DelayRange  = value.Range{Min: 0, Max: 10 * time.Second}
	JitterRange = value.Range{Min: 0, Max: 10 * time.Second}
)

// ImpairOp changes what a link's wire does to frames, both directions:
// delay and jitter, loss, a rate limit. Fields not given keep their value;
// Clear removes every impairment (a cut too) first.
type ImpairOp struct {
	Link   string          `json:"link"`
	Clear  bool            `json:"clear,omitempty"`
	Delay  *value.Duration `json:"delay,omitempty"`
	Jitter *value.Duration `json:"jitter,omitempty"`
	Loss   *value.Loss     `json:"loss,omitempty"`
	Rate   *value.Rate     `json:"rate,omitempty"` // unlimited: no limit
}

func (*ImpairOp) Kind() string { return "impair" }

func (o *ImpairOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	c.wire("link", c.link("link", o.Link))
	if o.Delay != nil {
		if err := DelayRange.Check(o.Delay.D()); err != nil {
			c.errorf("delay", "%v", err)
		}
	}
	if o.Jitter != nil {
		if err := JitterRange.Check(o.Jitter.D()); err != nil {
			c.errorf("jitter", "%v", err)
		}
	}
	if !o.Clear && o.Delay == nil && o.Jitter == nil && o.Loss == nil && o.Rate == nil {
		c.errorf("link", "nothing to change: give delay, jitter, loss, rate or clear")
	}
	return c.err()
}

func (o *ImpairOp) Describe() string {
	var what []string
	if o.Clear {
		what = append(what, "clear")
	}
	if o.Delay != nil {
		what = append(what, "delay "+o.Delay.String())
	}
	if o.Jitter != nil {
		what = append(what, "jitter "+o.Jitter.String())
	}
	if o.Loss != nil {
		what = append(what, "loss "+o.Loss.String())
	}
	if o.Rate != nil {
		what = append(what, "rate "+o.Rate.String())
	}
	return "impair " + o.Link + ": " + strings.Join(what, ", ")
}

func (o *ImpairOp) Apply(_ context.Context, l *Lab) (any, error) {
	im, err := l.Impairment(o.Link)
	if err != nil {
		return nil, err
	}
	if o.Clear {
		im = dataplane.Impairment{}
	}
	if o.Delay != nil {
		im.Delay = o.Delay.D()
	}
	if o.Jitter != nil {
		im.Jitter = o.Jitter.D()
	}
	if o.Loss != nil {
		im.Loss = float64(*o.Loss)
	}
	if o.Rate != nil {
		im.Rate = uint64(*o.Rate)
	}
	return nil, l.SetImpairment(o.Link, im)
}
