package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/secylab/secylab/topology"
)

// Op is one thing a user can do to a running lab: change MACsec on a link's
// end, cut a link, drain it, rekey a tunnel, ask for the lab's status… Each
// operation is one type in one file (op_<name>.go) that says how it is
// checked against the topology, how it is described in reports and progress
// lines, and how it applies. The control socket carries operations as JSON
// (a "kind" and the op's fields), scenario steps decode into them (the kind
// is the step's key) and CLI commands build them.
type Op interface {
	// Kind names the operation on the control socket and in scenarios.
	Kind() string
	// Check refuses an operation the topology cannot take; its problems
	// are FieldErrors naming the op's fields.
	Check(t *topology.Topology) error
	// Describe says what the operation does, for reports and progress.
	Describe() string
	// Apply carries the (checked) operation out on a running lab and
	// returns its result: nil for a change, the answer of a query.
	Apply(ctx context.Context, l *Lab) (any, error)
}

// Streamer is an operation whose answer is a stream (a capture): Stream
// writes it to c until ctx ends, the client hangs up or the stream is done.
type Streamer interface {
	Op
	Stream(ctx context.Context, l *Lab, c net.Conn) error
}

// Shorthand is an operation a scenario may write as "kind: VALUE" (cut:
// link1); SetShorthand fills the field VALUE stands for.
type Shorthand interface {
	Op
	SetShorthand(v string)
}

type opKind struct {
	new    func() Op
	change bool // a change to the lab, which a scenario step may make
}

var ops = map[string]opKind{}

// register makes an operation known to the control socket; a change can be a
// scenario step too.
func register(change bool, new func() Op) {
	ops[new().Kind()] = opKind{new: new, change: change}
}

// NewChange returns a new, empty change operation of kind, for a scenario
// step to decode into, or false.
func NewChange(kind string) (Op, bool) {
	k, ok := ops[kind]
	if !ok || !k.change {
		return nil, false
	}
	return k.new(), true
}

// Changes lists the kinds of change operations.
func Changes() []string {
	var kinds []string
	for k, v := range ops {
		if v.change {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	return kinds
}

// FieldError is a problem with one field of an operation.
type FieldError struct {
	Field string // the op's field (its JSON and YAML name)
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// InvalidError is an operation refused as bad input (exit status 2 in the
// CLI), before anything changed.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// opCheck collects the problems of an operation's fields against a topology.
type opCheck struct {
	t    *topology.Topology
	errs []error
}

func (c *opCheck) errorf(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (c *opCheck) err() error { return errors.Join(c.errs...) }

func (c *opCheck) link(field, name string) *topology.Link {
	if name == "" {
		c.errorf(field, "missing: the link to change")
		return nil
	}
	l := c.t.Link(name)
	switch {
	case l == nil && c.t.Link(topology.SessionLink(name)) != nil:
		// A peering's session (link1.100): operations act on the link,
		// which is every peering on it.
		c.errorf(field, "%q is a BGP session on link %s, not a link: name the link (%s), which acts on every peering on it", name, topology.SessionLink(name), topology.SessionLink(name))
	case l == nil:
		c.errorf(field, "no link %q in lab %s (have %s)", name, c.t.Name, strings.Join(linkNames(c.t), ", "))
	}
	return l
}

// end checks that node ("" for both ends) is an end of link.
func (c *opCheck) end(field string, l *topology.Link, node string) {
	if l == nil || node == "" {
		return
	}
	if l.Ends[0].Node != node && l.Ends[1].Node != node {
		c.errorf(field, "%q is not an end of link %s: want %s or %s", node, l.Name, l.Ends[0].Node, l.Ends[1].Node)
	}
}

// wire refuses a link that is a plain veth: what changes its frames needs a
// userspace data plane at one end at least.
func (c *opCheck) wire(field string, l *topology.Link) {
	if l == nil {
		return
	}
	for _, e := range l.Ends {
		if n := c.t.Node(e.Node); n != nil {
			if p := n.Port(e.Port); p != nil && p.Controlled {
				return
			}
		}
	}
	c.errorf(field, "link %s is a plain veth, with no userspace data plane to act on (MACsec, impairments and captures need one: enable MACsec on it or give it impairments in the topology)", l.Name)
}

func (c *opCheck) node(field, name string) {
	if name == "" {
		c.errorf(field, "missing: the node")
		return
	}
	if c.t.Node(name) == nil {
		c.errorf(field, "no node %q in lab %s", name, c.t.Name)
	}
}

func (c *opCheck) tunnel(field, name string) *topology.Tunnel {
	for _, tu := range c.t.Tunnels {
		if tu.Name == name {
			return tu
		}
	}
	c.errorf(field, "no tunnel %q in lab %s", name, c.t.Name)
	return nil
}

func linkNames(t *topology.Topology) []string {
	var names []string
	for _, l := range t.Links {
		names = append(names, l.Name)
	}
	return names
}

// Do checks op against the lab's topology and applies it. A refusal by the
// check is an *InvalidError.
func (l *Lab) Do(ctx context.Context, op Op) (any, error) {
	if err := op.Check(l.topo); err != nil {
		return nil, &InvalidError{err}
	}
	return op.Apply(ctx, l)
}

// The control protocol: a client connects to the lab's unix socket, sends
// one operation as a JSON object ({"kind": …, the op's fields}) and reads
// one reply — or, for a Streamer, the stream until it hangs up.

// reply answers an operation.
type reply struct {
	Error   string          `json:"error,omitempty"`
	Invalid bool            `json:"invalid,omitempty"` // Error is bad input
	Result  json.RawMessage `json:"result,omitempty"`
}

// EncodeOp is op on the wire: {"kind": …, the op's fields}.
func EncodeOp(op Op) ([]byte, error) {
	b, err := json.Marshal(op)
	if err != nil {
		return nil, err
	}
	kind, _ := json.Marshal(op.Kind())
	out := append([]byte(`{"kind":`), kind...)
	if len(b) > 2 {
		out = append(append(out, ','), b[1:]...)
	} else {
		out = append(out, '}')
	}
	return out, nil
}

// DecodeOp reads an operation from its wire form, strictly: an unknown kind
// or field is an error.
func DecodeOp(b []byte) (Op, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	var kind string
	if err := json.Unmarshal(fields["kind"], &kind); err != nil {
		return nil, errors.New(`no "kind"`)
	}
	k, ok := ops[kind]
	if !ok {
		return nil, fmt.Errorf("unknown operation %q", kind)
	}
	delete(fields, "kind")
	rest, _ := json.Marshal(fields)
	op := k.new()
	d := json.NewDecoder(strings.NewReader(string(rest)))
	d.DisallowUnknownFields()
	if err := d.Decode(op); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return op, nil
}

// serveConn answers the operation a control client sends on c.
func (l *Lab) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(c).Decode(&raw); err != nil {
		json.NewEncoder(c).Encode(reply{Error: "bad request: " + err.Error(), Invalid: true})
		return
	}
	op, err := DecodeOp(raw)
	if err != nil {
		json.NewEncoder(c).Encode(reply{Error: "bad request: " + err.Error(), Invalid: true})
		return
	}
	var rep reply
	var inv *InvalidError
	if s, ok := op.(Streamer); ok {
		err = op.Check(l.topo)
		if err == nil {
			err = s.Stream(ctx, l, c)
		} else {
			err = &InvalidError{err}
		}
	} else {
		var res any
		if res, err = l.Do(ctx, op); err == nil && res != nil {
			rep.Result, err = json.Marshal(res)
		}
	}
	if err != nil {
		rep.Error, rep.Invalid = err.Error(), errors.As(err, &inv)
	}
	if err != nil || !isStreamer(op) {
		json.NewEncoder(c).Encode(rep)
	}
}

func isStreamer(op Op) bool { _, ok := op.(Streamer); return ok }

// Do sends op to the lab and waits for it to be carried out. A refusal as
// bad input is an *InvalidError.
func (c *Client) Do(ctx context.Context, op Op) error { return c.call(ctx, op, nil) }

// DoResult is Do for an operation that answers: its result is decoded into
// result (e.g. a *MACsecResult).
func (c *Client) DoResult(ctx context.Context, op Op, result any) error {
	return c.call(ctx, op, result)
}

// StatusOf asks for the lab's status, its ports those of one node ("" all).
func (c *Client) StatusOf(ctx context.Context, node string) (*LabStatus, error) {
	var st LabStatus
	if err := c.call(ctx, &StatusOp{OfNode{node}}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// BGP asks for the BGP routers' detail: one node's, or ("") all.
func (c *Client) BGP(ctx context.Context, node string) ([]BGPStatus, error) {
	var st []BGPStatus
	err := c.call(ctx, &BGPOp{OfNode{node}}, &st)
	return st, err
}

func (c *Client) dial(ctx context.Context, op Op) (net.Conn, error) {
	b, err := EncodeOp(op)
	if err != nil {
		return nil, err
	}
	var conn net.Conn
	if c.remote != nil {
		conn, err = c.remote(ctx)
	} else {
		d := net.Dialer{Timeout: 2 * time.Second}
		conn, err = d.DialContext(ctx, "unix", c.Socket)
	}
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (c *Client) call(ctx context.Context, op Op, result any) error {
	conn, err := c.dial(ctx, op)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	conn.SetDeadline(deadline)
	return decodeReply(conn, result)
}

func decodeReply(r interface{ Read([]byte) (int, error) }, result any) error {
	var rep reply
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return fmt.Errorf("lab control: %w", err)
	}
	switch {
	case rep.Invalid:
		return &InvalidError{errors.New(rep.Error)}
	case rep.Error != "":
		return errors.New(rep.Error)
	case result != nil && rep.Result != nil:
		return json.Unmarshal(rep.Result, result)
	}
	return nil
}

// Stream sends a streaming operation (a capture) and returns the stream;
// a refusal is returned as an error instead.
func (c *Client) Stream(ctx context.Context, op Streamer) (*CaptureStream, error) {
	conn, err := c.dial(ctx, op)
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	// pcapng opens with 0x0A0D0D0A; a refusal is a JSON object.
	if b, err := r.Peek(1); err == nil && b[0] == '{' {
		defer conn.Close()
		if err := decodeReply(r, nil); err != nil {
			return nil, err
		}
		return nil, errors.New("lab control: an empty refusal")
	}
	return &CaptureStream{Conn: conn, r: r}, nil
}

// CaptureStream is a capture coming from a lab: pcapng octets until the
// lab stops sending or the caller closes it.
type CaptureStream struct {
	net.Conn
	r *bufio.Reader
}

func (c *CaptureStream) Read(p []byte) (int, error) { return c.r.Read(p) }

// OnLink is the link an operation acts on; a scenario may write such an
// operation as "kind: LINK".
type OnLink struct {
	Link string `json:"link" yaml:"link"`
}

func (o *OnLink) SetShorthand(v string) { o.Link = v }

func (o *OnLink) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	c.link("link", o.Link)
	return c.err()
}

// checkWire checks that the link exists and has a data plane to act on.
func (o *OnLink) checkWire(t *topology.Topology) error {
	c := &opCheck{t: t}
	c.wire("link", c.link("link", o.Link))
	return c.err()
}

// OfNode narrows a query to one node ("" all).
type OfNode struct {
	Node string `json:"node,omitempty" yaml:"node"`
}

func (o *OfNode) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	if o.Node != "" {
		c.node("node", o.Node)
	}
	return c.err()
}
