package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &RouteOp{} }) }

// RouteOp replaces a static route in a node (ip route replace), e.g. to
// steer traffic off a link without BGP.
type RouteOp struct {
	Node   string       `json:"node"`
	Prefix netip.Prefix `json:"prefix"`
	Via    netip.Addr   `json:"via"`
}

func (*RouteOp) Kind() string { return "route" }

func (o *RouteOp) Describe() string {
	return fmt.Sprintf("route %s via %s on %s", o.Prefix, o.Via, o.Node)
}

func (o *RouteOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	c.node("node", o.Node)
	if !o.Prefix.IsValid() {
		c.errorf("prefix", "missing: a prefix such as 10.50.0.0/16")
	}
	if !o.Via.IsValid() {
		c.errorf("via", "missing: the next hop's address")
	}
	return c.err()
}

func (o *RouteOp) Apply(ctx context.Context, l *Lab) (any, error) {
	out, err := exec.CommandContext(ctx, "ip", "-n", topology.NamespaceName(l.topo.Name, o.Node), "route", "replace",
		o.Prefix.String(), "via", o.Via.String()).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil, nil
}
