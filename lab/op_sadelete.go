package lab

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &SADeleteOp{} }) }

// SADeleteOp deletes an SA from a gateway (ip xfrm state delete).
type SADeleteOp struct {
	Node string     `json:"node"`
	SPI  SPI        `json:"spi"`
	Dst  netip.Addr `json:"dst"`
}

func (*SADeleteOp) Kind() string { return "saDelete" }

func (o *SADeleteOp) Describe() string {
	return fmt.Sprintf("delete SA %s to %s on %s", o.SPI, o.Dst, o.Node)
}

func (o *SADeleteOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	c.node("node", o.Node)
	if !o.Dst.IsValid() {
		c.errorf("dst", "missing: the outer destination address")
	}
	return c.err()
}

func (o *SADeleteOp) Apply(_ context.Context, l *Lab) (any, error) {
	te, err := l.gatewayOn(o.Node)
	if err != nil {
		return nil, err
	}
	return nil, te.gw.Backend().DelSA(uint32(o.SPI), o.Dst)
}
