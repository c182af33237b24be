package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/topology"
)

// A run across hosts: the scenario's topology is a lab spanning hosts
// (hosts:, each node's host:), this host runs its half as the run's own lab
// and the far halves, brought up beforehand with lab up FILE --host NAME
// --control-key FILE, are driven over their remote control endpoints
// (lab.Span): steps go to the half that runs what they name, a probe's or
// bulk flow's far end runs in the far half's lab process, which streams
// back what it sent and received, and the report lists both halves.

// SpanOptions make a run drive a lab spanning hosts.
type SpanOptions struct {
	// Host is this host: the run brings up its half.
	Host string
	// Half is the half of the scenario's topology on Host.
	Half *topology.Topology
	// Far are the far halves' remote control endpoints, by host.
	Far map[string]*lab.Client
	// KeyFile is the control key file: this half derives its generate:
	// keys from it, as the far halves do.
	KeyFile string
}

// WithTopology is the scenario checked again against topo instead of the
// topology it names (lab run --topology): its probes, steps and
// assertions must name topo's nodes, links and addresses.
func WithTopology(sc *Scenario, topo *topology.Topology) (*Scenario, error) {
	return parse(sc.Source, []byte(sc.YAML), topo)
}

// halfOf is the far half that runs node, nil for this host's (or a run
// on one host), or why no half runs it.
func (r *run) halfOf(node string) (*lab.Half, error) {
	if r.span == nil {
		return nil, nil
	}
	h, err := r.span.NodeHalf(node)
	if err != nil || !h.Client.Remote() {
		return nil, err
	}
	return h, nil
}

// remoteProbeEnd is a probe's end run by a far half's lab process
// (lab.ProbeEndOp), streaming what it sends and receives.
type remoteProbeEnd struct {
	half   *lab.Half
	stream *lab.CaptureStream
}

func openRemoteProbeEnd(h *lab.Half, ep Endpoint, peer netip.Addr, rate int, grace time.Duration) (*remoteProbeEnd, error) {
	s, err := h.Client.Stream(context.Background(), &lab.ProbeEndOp{Node: ep.Node, Addr: ep.Addr, Peer: peer, Rate: rate, Grace: grace})
	if err != nil {
		return nil, err
	}
	if err := expectOpen(s); err != nil {
		s.Close()
		return nil, err
	}
	return &remoteProbeEnd{half: h, stream: s}, nil
}

// expectOpen reads a far end's first record: open.
func expectOpen(s *lab.CaptureStream) error {
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer s.SetReadDeadline(time.Time{})
	rec, err := lab.ReadRecord(s)
	if err != nil {
		return err
	}
	if rec.Kind != lab.RecordOpen {
		return fmt.Errorf("the far end answered %q, not open", rec.Kind)
	}
	return nil
}

// start lets the far end send.
func (e *remoteProbeEnd) start() error {
	_, err := e.stream.Write([]byte{'g'})
	return err
}

func (e *remoteProbeEnd) stopSending() { closeWrite(e.stream) }

// read records the far end's sends in out and its arrivals with got, its
// times put on this host's clock, until the stream ends.
func (e *remoteProbeEnd) read(out *flow, got func(seq uint64, sent, at time.Time)) {
	off := e.half.ClockOffset
	at := func(v uint64) time.Time { return time.Unix(0, int64(v)).Add(-off) }
	for {
		rec, err := lab.ReadRecord(e.stream)
		if err != nil || rec.Kind == lab.RecordEnd {
			return
		}
		switch rec.Kind {
		case lab.RecordSent:
			out.addSent(rec.Vals[0], at(rec.Vals[1]))
		case lab.RecordRecv:
			// The sent time is in the sender's clock: got corrects it.
			got(rec.Vals[0], time.Unix(0, int64(rec.Vals[1])), at(rec.Vals[2]))
		}
	}
}

// closeWrite half-closes a control stream: the lab process then finishes
// it (a capture writes out its queue and counts, a probe end stops).
func closeWrite(s *lab.CaptureStream) {
	if cw, ok := s.Conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// remoteBulkEnd is a bulk flow's end run by a far half's lab process.
type remoteBulkEnd struct {
	stream *lab.CaptureStream
	done   chan struct{}
}

func openRemoteBulkEnd(h *lab.Half, op *lab.BulkEndOp) (*remoteBulkEnd, error) {
	s, err := h.Client.Stream(context.Background(), op)
	if err != nil {
		return nil, err
	}
	if err := expectOpen(s); err != nil {
		s.Close()
		return nil, err
	}
	return &remoteBulkEnd{stream: s, done: make(chan struct{})}, nil
}

// read gives each count of octets received to got until the stream ends.
func (e *remoteBulkEnd) read(got func(uint64)) error {
	defer close(e.done)
	for {
		rec, err := lab.ReadRecord(e.stream)
		switch {
		case errors.Is(err, io.EOF) || err == nil && rec.Kind == lab.RecordEnd:
			return nil
		case err != nil:
			return err
		case rec.Kind == lab.RecordBytes:
			got(rec.Vals[0])
		}
	}
}

// stop ends the far end and waits for its stream to end.
func (e *remoteBulkEnd) stop() {
	closeWrite(e.stream)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
	}
	e.stream.Close()
}

// remoteExec runs an exec step's command on a node of a far half.
func (r *run) remoteExec(ctx context.Context, h *lab.Half, node, command string, timeout time.Duration) (*lab.ExecResult, error) {
	var res lab.ExecResult
	if err := h.Client.DoResult(ctx, &lab.ExecOp{Node: node, Command: command, Timeout: timeout}, &res); err != nil {
		return nil, fmt.Errorf("on host %s: %w", h.Host, err)
	}
	return &res, nil
}

// resetFar puts the far halves' ends of the links that cross to them back
// as the topology has them — MACsec with its cipher, SCI state and key,
// no impairment — so that the next run starts from the topology, as it
// does on one host, where the lab is made anew.
func (r *run) resetFar(ctx context.Context) {
	for _, l := range r.sc.Topology.Links {
		if l.VNI == 0 {
			continue
		}
		for _, e := range l.Ends {
			h, err := r.halfOf(e.Node)
			if err != nil || h == nil {
				continue
			}
			var ops []lab.Op
			if l.Impairments.Any() {
				ops = append(ops, &lab.RestoreOp{OnLink: lab.OnLink{Link: l.Name}})
			} else {
				ops = append(ops, &lab.ImpairOp{Link: l.Name, Clear: true})
			}
			if l.MACsec.Enabled {
				on, sci := value.Switch(true), value.Switch(l.MACsec.IncludeSCI)
				m := &lab.MACsecOp{Link: l.Name, Node: e.Node, State: &on, Cipher: value.Cipher(e.Cipher), SCI: &sci}
				switch {
				case e.Secret.Path != "":
					m.Key = value.KeySource{File: e.Secret.Path}
				case e.OwnSecret:
					m.Key = value.KeySource{Generate: l.Name + "-" + e.Node}
				default:
					m.Key = value.KeySource{Generate: l.Name}
				}
				ops = append(ops, m)
			}
			for _, op := range ops {
				if err := h.Client.Do(ctx, op); err != nil {
					r.event("lab", "host %s: putting %s at %s back as the topology has it: %v", h.Host, l.Name, e.Node, err)
				}
			}
			r.event("lab", "host %s: %s at %s put back as the topology has it", h.Host, l.Name, e.Node)
		}
	}
}
