package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/ipsec/ike"
	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &IPsecRekeyOp{} }) }

// IPsecRekeyOp rekeys a tunnel. A manually keyed tunnel gets fresh ESP
// keys (same SPIs): on both gateways (Node ""), the same keys, as a
// coordinated change; or on one only, which keeps the old keys on the
// other: a mismatch, and every packet between them is dropped. An
// IKE-keyed tunnel's gateway on Node (default: the Azure gateway's end)
// rekeys its Child SA with CREATE_CHILD_SA (make-before-break: new SPIs,
// the old SAs deleted once the new ones carry traffic) or, with IKE, its
// IKE SA; the answer (IPsecRekeyResult) has the SPIs before and after.
type IPsecRekeyOp struct {
	Tunnel string `json:"tunnel"`
	Node   string `json:"node,omitempty"`
	IKE    bool   `json:"ike,omitempty"`
}

func (*IPsecRekeyOp) Kind() string { return "ipsecRekey" }

func (o *IPsecRekeyOp) Describe() string {
	if o.IKE {
		return "IKE SA rekey of tunnel " + o.Tunnel + by(o.Node)
	}
	// Whether the tunnel is keyed by hand (new keys on the gateway named,
	// or both) or by IKE (a Child SA rekey) is the topology's, not the op's.
	return "rekey tunnel " + o.Tunnel + by(o.Node)
}

func (o *IPsecRekeyOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	tu := c.tunnel("tunnel", o.Tunnel)
	if tu != nil && o.Node != "" && tu.Ends[0].Node != o.Node && tu.Ends[1].Node != o.Node {
		c.errorf("node", "%q is no gateway of tunnel %s: want %s or %s", o.Node, tu.Name, tu.Ends[0].Node, tu.Ends[1].Node)
	}
	if tu != nil && o.IKE && tu.IKE == nil {
		c.errorf("ike", "tunnel %s is keyed by hand: it has no IKE SA (give it a sharedKey)", tu.Name)
	}
	return c.err()
}

func (o *IPsecRekeyOp) Apply(ctx context.Context, l *Lab) (any, error) {
	var tu *topology.Tunnel
	for _, t := range l.topo.Tunnels {
		if t.Name == o.Tunnel {
			tu = t
		}
	}
	if tu.IKE != nil {
		return o.ikeRekey(ctx, l, tu)
	}
	keys, err := newTunnelKeys(tu.KeyBits)
	if err != nil {
		return nil, err
	}
	done := 0
	for _, te := range l.tunnels {
		if te.tunnel != tu || o.Node != "" && tu.Ends[te.end].Node != o.Node {
			continue
		}
		done++
		b := te.gw.Backend()
		states, err := b.States()
		if err != nil {
			return nil, err
		}
		for _, st := range states {
			cfg := st.Config
			// keys[0] carries end 0 → end 1: end 0's out SA, end 1's in SA.
			k := te.end
			if cfg.Dir == ipsec.DirIn {
				k = 1 - te.end
			}
			if err := b.DelSA(cfg.SPI, cfg.Dst); err != nil {
				return nil, err
			}
			cfg.KEYMAT = keys[k].keymat
			if err := b.AddSA(cfg); err != nil {
				return nil, err
			}
		}
	}
	if done == 0 {
		return nil, fmt.Errorf("tunnel %s has no gateway on node %q", o.Tunnel, o.Node)
	}
	return nil, nil
}

func by(node string) string {
	if node == "" {
		return ""
	}
	return " from " + node
}

// IPsecRekeyResult is what an IKE rekey changed: the SPIs before and
// after, and how long the exchange took.
type IPsecRekeyResult struct {
	Tunnel  string  `json:"tunnel"`
	Node    string  `json:"node"`
	What    string  `json:"what"` // "Child SA" or "IKE SA"
	Before  string  `json:"before"`
	After   string  `json:"after"`
	Seconds float64 `json:"seconds"`
}

// ikeRekey rekeys an IKE-keyed tunnel from one of its gateways and waits
// for the new SA.
func (o *IPsecRekeyOp) ikeRekey(ctx context.Context, l *Lab, tu *topology.Tunnel) (any, error) {
	var te *tunnelEnd
	for _, t := range l.tunnels {
		if t.tunnel != tu || t.ike == nil || (o.Node != "" && tu.Ends[t.end].Node != o.Node) {
			continue
		}
		if te == nil || l.topo.Node(tu.Ends[t.end].Node).Kind == topology.KindVPNGateway {
			te = t
		}
	}
	if te == nil {
		return nil, fmt.Errorf("tunnel %s has no gateway the lab runs on %q (a node's own IKE keys it)", tu.Name, o.Node)
	}
	g := te.ike
	spis := func() string {
		if o.IKE {
			st := g.SAs()
			return st.SPIi + "_i " + st.SPIr + "_r"
		}
		var s []string
		for _, c := range g.Children() {
			s = append(s, fmt.Sprintf("%08x_i %08x_o", c.InSPI, c.OutSPI))
		}
		return strings.Join(s, ", ")
	}
	res := &IPsecRekeyResult{Tunnel: tu.Name, Node: tu.Ends[te.end].Node, What: "Child SA", Before: spis()}
	// What is there before the request: the exchange can end (a
	// millisecond here) before RekeyChild or RekeyIKE returns.
	mark := g.EventMark()
	old := map[uint32]bool{}
	for _, c := range g.Children() {
		old[c.InSPI] = true
	}
	start := time.Now()
	var err error
	if o.IKE {
		res.What = "IKE SA"
		err = g.RekeyIKE()
	} else {
		err = g.RekeyChild()
	}
	if err != nil {
		return nil, fmt.Errorf("tunnel %s on %s: %w", tu.Name, res.Node, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = g.Wait(wctx, mark, func(s *ike.Session, evs []ike.Event) bool {
		for _, e := range evs {
			if (o.IKE && e.Kind == ike.EvIKERekeyed) || e.Kind == ike.EvChildFailed || e.Kind == ike.EvClosed {
				return true
			}
		}
		if o.IKE || s == nil {
			return false
		}
		// A Child SA rekey is done when the old SA is gone and the new one
		// carries the traffic.
		cs := s.Children()
		return len(cs) > 0 && !slices.ContainsFunc(cs, func(c *ike.ChildSA) bool { return old[c.InSPI] })
	})
	if err != nil {
		return nil, fmt.Errorf("tunnel %s on %s: the %s rekey did not complete within 10s", tu.Name, res.Node, res.What)
	}
	for _, e := range g.EventsSince(mark) {
		if e.Kind == ike.EvChildFailed || e.Kind == ike.EvClosed {
			return nil, fmt.Errorf("tunnel %s on %s: the %s rekey failed: %s", tu.Name, res.Node, res.What, e)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.After = spis()
	return res, nil
}
