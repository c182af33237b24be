package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/ipsec/ike"
	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &IPsecLifetimeOp{} }) }

// LifetimeRange bounds the lifetimes a running lab takes: short enough
// to see lifetime-driven rekeys in seconds, below the 300 s Azure allows
// in a policy.
var LifetimeRange = value.Range{Min: 2 * time.Second, Max: 48 * time.Hour}

// KilobytesRange bounds the Child SA lifetime in kilobytes a running lab
// takes: Azure's range for saDataSizeKilobytes.
var KilobytesRange = [2]int64{ike.AzureMinLifetimeKB, 2147483647}

// IPsecLifetimeOp lowers (or raises) the lifetimes of an IKE-keyed
// tunnel's SAs on every gateway the lab runs for it: each gateway rekeys
// its Child SAs and its IKE SA when they reach them (the original
// initiator at 90 %), and a Child SA when its outbound or inbound SA has
// carried Kilobytes of inner packets (90 %, the responder 95 %). A field
// not given keeps its value.
type IPsecLifetimeOp struct {
	Tunnel    string          `json:"tunnel"`
	Child     *value.Duration `json:"child,omitempty"`
	IKE       *value.Duration `json:"ike,omitempty"`
	Kilobytes *int64          `json:"kilobytes,omitempty"`
}

func (*IPsecLifetimeOp) Kind() string { return "ipsecLifetime" }

func (o *IPsecLifetimeOp) Describe() string {
	s := "lifetimes of tunnel " + o.Tunnel + ":"
	if o.Child != nil {
		s += " Child SA " + o.Child.D().String()
	}
	if o.IKE != nil {
		s += " IKE SA " + o.IKE.D().String()
	}
	if o.Kilobytes != nil {
		s += fmt.Sprintf(" Child SA %d KB", *o.Kilobytes)
	}
	return s
}

func (o *IPsecLifetimeOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	if tu := c.tunnel("tunnel", o.Tunnel); tu != nil && tu.IKE == nil {
		c.errorf("tunnel", "tunnel %s is keyed by hand: its SAs have no lifetime (give it a sharedKey)", tu.Name)
	}
	for field, d := range map[string]*value.Duration{"child": o.Child, "ike": o.IKE} {
		if d != nil {
			if err := LifetimeRange.Check(d.D()); err != nil {
				c.errorf(field, "%v", err)
			}
		}
	}
	if k := o.Kilobytes; k != nil && (*k < KilobytesRange[0] || *k > KilobytesRange[1]) {
		c.errorf("kilobytes", "%d: give %d to %d (Azure's saDataSizeKilobytes range)", *k, KilobytesRange[0], KilobytesRange[1])
	}
	if o.Child == nil && o.IKE == nil && o.Kilobytes == nil {
		c.errorf("child", "missing: give child, ike or kilobytes, e.g. {tunnel: s2s0, child: 10s} or {tunnel: s2s0, kilobytes: 1024}")
	}
	return c.err()
}

func (o *IPsecLifetimeOp) Apply(_ context.Context, l *Lab) (any, error) {
	for _, te := range l.tunnels {
		if te.tunnel.Name != o.Tunnel || te.ike == nil {
			continue
		}
		child, ikeSA := te.ike.Lifetimes()
		if o.Child != nil {
			child = o.Child.D()
		}
		if o.IKE != nil {
			ikeSA = o.IKE.D()
		}
		te.ike.SetLifetimes(child, ikeSA)
		if o.Kilobytes != nil {
			te.ike.SetLifetimeKB(*o.Kilobytes)
		}
	}
	return nil, nil
}
