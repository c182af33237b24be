package lab

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/topology"
)

// Controller is what drives a running lab: one lab process (*Client) or
// the halves of a lab spanning hosts (*Span).
type Controller interface {
	Status() (*LabStatus, error)
	Do(ctx context.Context, op Op) error
	DoResult(ctx context.Context, op Op, result any) error
	Stream(ctx context.Context, op Streamer) (*CaptureStream, error)
	WaitSecured(ctx context.Context, timeout time.Duration) error
	WaitBGP(ctx context.Context, timeout time.Duration) ([]string, error)
}

var (
	_ Controller = (*Client)(nil)
	_ Controller = (*Span)(nil)
)

// Half is one host's half of a lab spanning hosts, as a Span reaches it.
type Half struct {
	Host   string  `json:"host"`
	Client *Client `json:"-"`
	// Endpoint is the far half's remote control endpoint; "": this host's
	// half, on its unix socket.
	Endpoint string `json:"endpoint,omitempty"`
	Lab      string `json:"lab"`
	PID      int    `json:"pid"`
	// Nodes are those the half runs.
	Nodes []string `json:"nodes"`
	// ClockOffset is the far host's clock less this one's, measured over
	// the control connection; RTT its round trip (the offset's
	// uncertainty is half of it).
	ClockOffset time.Duration `json:"clockOffset"`
	RTT         time.Duration `json:"rtt,omitempty"`
}

// Span drives the halves of a lab spanning hosts from one of them: each
// operation goes to the halves that run what it names — a node's host,
// the hosts of a link's ends — and status is every half's together.
type Span struct {
	Whole  *topology.Topology // every host's nodes and links
	Halves []*Half            // this host's first
}

// NewSpan checks that every far half answers — runs the nodes the
// topology gives its host, of the same topology — and measures its clock.
// here is this host; far the far halves' clients (DialRemote) by host.
// SetHere adds this host's half once it is up.
func NewSpan(ctx context.Context, whole *topology.Topology, here string, far map[string]*Client) (*Span, error) {
	s := &Span{Whole: whole}
	if whole.HostNamed(here) == nil {
		return nil, fmt.Errorf("host %s: not a host of the topology", here)
	}
	var errs []error
	for _, h := range whole.Hosts {
		if h.Name == here {
			continue
		}
		c := far[h.Name]
		if c == nil {
			errs = append(errs, fmt.Errorf("host %s: no control endpoint given for its half", h.Name))
			continue
		}
		half, err := s.check(ctx, h.Name, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Halves = append(s.Halves, half)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// SetHere adds this host's half, on its unix socket, as the first.
func (s *Span) SetHere(ctx context.Context, here string, local *Client) error {
	h, err := s.check(ctx, here, local)
	if err != nil {
		return err
	}
	s.Halves = append([]*Half{h}, s.Halves...)
	return nil
}

// check reaches host's half with c and checks that it runs the nodes the
// topology gives the host.
func (s *Span) check(ctx context.Context, host string, c *Client) (*Half, error) {
	h := &Half{Host: host, Client: c}
	if c.Remote() {
		h.Endpoint = c.Socket
	}
	st, err := c.StatusOf(ctx, "")
	if err != nil {
		if c.Remote() {
			err = fmt.Errorf("the far half does not answer at %s: %w (start it there with secylab lab up FILE --host %s --control-key KEYFILE)", h.Endpoint, err, host)
		}
		return nil, fmt.Errorf("host %s: %w", host, err)
	}
	h.Lab, h.PID, h.Nodes = st.Name, st.PID, st.Nodes
	var want []string
	for _, n := range s.Whole.Nodes {
		if n.Host == host {
			want = append(want, n.Name)
		}
	}
	switch {
	case st.Host != host:
		return nil, fmt.Errorf("host %s: the lab there (%s) runs the half of host %q", host, st.Name, st.Host)
	case !slices.Equal(st.Nodes, want):
		return nil, fmt.Errorf("host %s: its lab %s runs nodes %s, the topology gives the host %s: not the same topology", host, st.Name, strings.Join(st.Nodes, ", "), strings.Join(want, ", "))
	}
	if c.Remote() {
		if h.ClockOffset, h.RTT, err = clockOffset(ctx, c); err != nil {
			return nil, fmt.Errorf("host %s: %w", host, err)
		}
	}
	return h, nil
}

// clockOffset asks the far lab process for its time a few times and keeps
// the answer with the shortest round trip, taken as at its middle.
func clockOffset(ctx context.Context, c *Client) (offset, rtt time.Duration, err error) {
	rtt = time.Hour
	for range 5 {
		var far time.Time
		t0 := time.Now()
		if err := c.DoResult(ctx, &ClockOp{}, &far); err != nil {
			return 0, 0, fmt.Errorf("clock: %w", err)
		}
		if d := time.Since(t0); d < rtt {
			rtt, offset = d, far.Sub(t0.Add(d/2))
		}
	}
	return offset, rtt, nil
}

// Half returns the half of host, or nil.
func (s *Span) Half(host string) *Half {
	for _, h := range s.Halves {
		if h.Host == host {
			return h
		}
	}
	return nil
}

// NodeHalf returns the half that runs node, or why none does.
func (s *Span) NodeHalf(node string) (*Half, error) {
	n := s.Whole.Node(node)
	switch {
	case n == nil:
		return nil, fmt.Errorf("no node %q in lab %s", node, s.Whole.Name)
	case n.External():
		return nil, fmt.Errorf("node %s runs on no host of the lab: it is an external device (kind %s) the lab does not run", node, n.Kind)
	}
	h := s.Half(n.Host)
	if h == nil {
		return nil, fmt.Errorf("node %s runs on host %s, whose half is not part of this run", node, n.Host)
	}
	return h, nil
}

// target is an operation as one half carries it out.
type target struct {
	half *Half
	op   Op
}

// route says which halves carry op out: the half of the node it names;
// else each half with an end of the link it names (an end's change made
// at each end's own half); else this host's. A drain goes to the
// customer router's half, which changes its BGP policy.
func (s *Span) route(op Op) ([]target, error) {
	b, err := json.Marshal(op)
	if err != nil {
		return nil, err
	}
	var f struct{ Node, Link string }
	json.Unmarshal(b, &f)
	link := s.Whole.Link(f.Link)
	if f.Link != "" && link == nil {
		return nil, &InvalidError{fmt.Errorf("no link %q in lab %s", f.Link, s.Whole.Name)}
	}
	switch o := op.(type) {
	case *DrainOp, *UndrainOp:
		for _, e := range link.Ends {
			if n := s.Whole.Node(e.Node); n.BGP != nil && n.BGP.ASN != expressroute.MicrosoftASN && !n.External() {
				f.Node = e.Node
			}
		}
		if f.Node == "" {
			return nil, &InvalidError{fmt.Errorf("link %s has no customer BGP router at either end that the lab runs, to drain it", f.Link)}
		}
	case *MACsecOp:
		if f.Node == "" && s.crosses(link) {
			if o.NewCAK {
				return nil, &InvalidError{fmt.Errorf("newCAK on both ends of link %s, whose ends run on two hosts: each half would make its own; give a key both hosts have (a key file, or generate:NAME, derived from the control key)", f.Link)}
			}
			var ts []target
			for _, e := range link.Ends {
				h, err := s.NodeHalf(e.Node)
				if err != nil {
					return nil, err
				}
				one := *o
				one.Node = e.Node
				ts = append(ts, target{h, &one})
			}
			return ts, nil
		}
	case *CaptureOp:
		if f.Node == "" && s.crosses(link) {
			c := *o
			c.Node = link.Ends[0].Node
			h, err := s.NodeHalf(c.Node)
			if err != nil {
				return nil, err
			}
			return []target{{h, &c}}, nil
		}
	}
	switch {
	case f.Node != "":
		h, err := s.NodeHalf(f.Node)
		if err != nil {
			return nil, &InvalidError{err}
		}
		return []target{{h, op}}, nil
	case link != nil:
		var ts []target
		for _, e := range link.Ends {
			n := s.Whole.Node(e.Node)
			if n.External() {
				continue
			}
			h, err := s.NodeHalf(e.Node)
			if err != nil {
				return nil, &InvalidError{err}
			}
			if !slices.ContainsFunc(ts, func(t target) bool { return t.half == h }) {
				ts = append(ts, target{h, op})
			}
		}
		return ts, nil
	}
	return []target{{s.Halves[0], op}}, nil
}

// crosses reports whether link's ends run on two hosts.
func (s *Span) crosses(link *topology.Link) bool {
	return link != nil && link.VNI != 0
}

// Status is every half's status together: the ports, BGP routers and
// tunnels of each, in node order; the name and PID are this host's.
func (s *Span) Status() (*LabStatus, error) {
	var all *LabStatus
	for _, h := range s.Halves {
		st, err := h.Client.StatusOf(context.Background(), "")
		if err != nil {
			return nil, fmt.Errorf("host %s (lab %s): %w", h.Host, h.Lab, err)
		}
		if all == nil {
			all = st
			continue
		}
		all.Ports = append(all.Ports, st.Ports...)
		all.BGP = append(all.BGP, st.BGP...)
		all.Tunnels = append(all.Tunnels, st.Tunnels...)
		all.Strongswan = append(all.Strongswan, st.Strongswan...)
		all.Nodes = append(all.Nodes, st.Nodes...)
	}
	slices.SortStableFunc(all.Ports, func(a, b PortStatus) int { return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Name, b.Name)) })
	slices.SortStableFunc(all.BGP, func(a, b BGPStatus) int { return cmp.Compare(a.Node, b.Node) })
	all.Host = ""
	return all, nil
}

// Do carries op out on the halves it concerns, one after the other.
func (s *Span) Do(ctx context.Context, op Op) error { return s.DoResult(ctx, op, nil) }

// DoResult is Do for an operation that answers; the keys of a link whose
// ends run on two hosts are both halves' together.
func (s *Span) DoResult(ctx context.Context, op Op, result any) error {
	ts, err := s.route(op)
	if err != nil {
		return err
	}
	if len(ts) > 1 && result != nil {
		if lk, ok := result.(*LinkKeys); ok {
			for _, t := range ts {
				var one LinkKeys
				if err := t.half.Client.DoResult(ctx, t.op, &one); err != nil {
					return fmt.Errorf("host %s: %w", t.half.Host, err)
				}
				lk.Link = one.Link
				lk.PSKs, lk.SAs = append(lk.PSKs, one.PSKs...), append(lk.SAs, one.SAs...)
			}
			return nil
		}
		return fmt.Errorf("%s: the halves of %d hosts answer, and their answers do not merge", op.Kind(), len(ts))
	}
	for _, t := range ts {
		if err := t.half.Client.DoResult(ctx, t.op, result); err != nil {
			if len(s.Halves) > 1 {
				var inv *InvalidError
				err = fmt.Errorf("host %s: %w", t.half.Host, err)
				if errors.As(err, &inv) {
					err = &InvalidError{err}
				}
			}
			return err
		}
	}
	return nil
}

// Stream starts a stream on the one half op concerns.
func (s *Span) Stream(ctx context.Context, op Streamer) (*CaptureStream, error) {
	ts, err := s.route(op)
	if err != nil {
		return nil, err
	}
	if len(ts) != 1 {
		return nil, fmt.Errorf("%s: a stream comes from one half, this names %d", op.Kind(), len(ts))
	}
	return ts[0].half.Client.Stream(ctx, ts[0].op.(Streamer))
}

// WaitSecured waits until MKA has secured every MACsec port of every half.
func (s *Span) WaitSecured(ctx context.Context, timeout time.Duration) error {
	return waitSecured(ctx, s.Status, timeout)
}

// WaitBGP waits until every BGP session of every half is Established or
// held down (returned).
func (s *Span) WaitBGP(ctx context.Context, timeout time.Duration) ([]string, error) {
	return waitBGP(ctx, s.Status, timeout)
}
