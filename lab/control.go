package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/secylab/secylab/dataplane"
	"github.com/secylab/secylab/dataplane/capture"
)

// The control protocol: a client connects to the lab's unix socket, sends
// one JSON Request, and reads one JSON Response — or, for a capture, a
// pcapng stream until it hangs up.

// Request is a command for a running lab.
type Request struct {
	Cmd  string `json:"cmd"` // status, link-set, macsec-set, capture, rekey, ipsec-rekey (Link names the tunnel), bgp, bgp-drain, bgp-reset
	Link string `json:"link,omitempty"`
	Node string `json:"node,omitempty"`
	// Side of a capture: "wire" (ciphertext) or "clear" (what the node sees).
	Side string `json:"side,omitempty"`
	// Count stops a capture after so many frames; 0: until the client
	// hangs up.
	Count      int                   `json:"count,omitempty"`
	Impairment *dataplane.Impairment `json:"impairment,omitempty"`
	MACsec     *MACsecChange         `json:"macsec,omitempty"`
	SA         *SAChange             `json:"sa,omitempty"`
	// On drains (true) or undrains (false) Link for bgp-drain.
	On bool `json:"on,omitempty"`
}

// Response answers a Request.
type Response struct {
	Error  string      `json:"error,omitempty"`
	Status *LabStatus  `json:"status,omitempty"`
	BGP    []BGPStatus `json:"bgp,omitempty"` // the bgp command's answer
}

// LabStatus is a running lab's state.
type LabStatus struct {
	Name     string
	PID      int
	Started  time.Time
	Warnings []string
	Ports    []PortStatus
	Tunnels  []TunnelStatus
	BGP      []BGPStatus
}

// Serve answers control requests on the unix socket path until ctx ends.
// It never removes a socket it did not make: a path in use is an error, and
// on the way out it removes its socket only if the path still is that
// socket (a lab down and a new lab of the same name may have replaced it).
func Serve(ctx context.Context, l *Lab, path string) error {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // Go would unlink the path, whoever's it is by then
	mine, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return err
	}
	defer removeIfMine(path, mine)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return err
	}
	go func() { <-ctx.Done(); ln.Close() }()
	started := time.Now()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go l.handle(ctx, c, started)
	}
}

// removeIfMine removes path if it is still the file mine describes.
func removeIfMine(path string, mine os.FileInfo) {
	if cur, err := os.Lstat(path); err == nil && os.SameFile(cur, mine) && cur.ModTime().Equal(mine.ModTime()) {
		os.Remove(path)
	}
}

func (l *Lab) handle(ctx context.Context, c net.Conn, started time.Time) {
	defer c.Close()
	var req Request
	if err := json.NewDecoder(c).Decode(&req); err != nil {
		json.NewEncoder(c).Encode(Response{Error: "bad request: " + err.Error()})
		return
	}
	if req.Cmd == "capture" {
		if err := l.capture(ctx, c, req); err != nil {
			json.NewEncoder(c).Encode(Response{Error: err.Error()})
		}
		return
	}
	var resp Response
	if err := l.do(req, &resp, started); err != nil {
		resp.Error = err.Error()
	}
	json.NewEncoder(c).Encode(resp)
}

func (l *Lab) do(req Request, resp *Response, started time.Time) error {
	switch req.Cmd {
	case "status":
		st := &LabStatus{Name: l.topo.Name, PID: os.Getpid(), Started: started, Warnings: l.topo.Warnings, Tunnels: l.tunnelStatus(), BGP: l.BGPStatus()}
		for _, p := range l.Ports() {
			if req.Node == "" || req.Node == p.cfg.Node {
				st.Ports = append(st.Ports, p.Status())
			}
		}
		resp.Status = st
		return nil
	case "link-set":
		if req.Impairment == nil {
			return errors.New("link-set: no impairment given")
		}
		return l.SetImpairment(req.Link, *req.Impairment)
	case "macsec-set":
		if req.MACsec == nil {
			return errors.New("macsec-set: no change given")
		}
		return l.ChangeMACsec(req.Link, req.Node, *req.MACsec)
	case "ipsec-sa":
		if req.SA == nil {
			return errors.New("ipsec-sa: no SA given")
		}
		return l.ChangeSA(req.Node, *req.SA)
	case "bgp":
		var err error
		resp.BGP, err = l.BGPDetail(req.Node)
		return err
	case "bgp-drain":
		return l.DrainLink(req.Link, req.On)
	case "bgp-reset":
		return l.ResetBGP(req.Node, req.Link)
	case "ipsec-rekey":
		return l.RekeyTunnel(req.Link, req.Node)
	case "rekey":
		return l.RekeyLink(req.Link)
	}
	return fmt.Errorf("unknown command %q", req.Cmd)
}

// capture streams a pcapng of one side of a link's port to c. Frames are
// copied off the forwarding path into a bounded queue; when the client is
// too slow they are dropped there, never stalling the data plane.
func (l *Lab) capture(ctx context.Context, c net.Conn, req Request) error {
	ps, err := l.LinkPorts(req.Link)
	if err != nil {
		return err
	}
	p := ps[0]
	if req.Node != "" || p == nil {
		p = nil
		for _, q := range ps {
			if q != nil && (req.Node == "" || q.cfg.Node == req.Node) {
				p = q
			}
		}
		if p == nil {
			return fmt.Errorf("link %s has no port on node %q", req.Link, req.Node)
		}
	}
	side := dataplane.Wire
	switch req.Side {
	case "", "wire":
	case "clear":
		side = dataplane.Clear
	default:
		return fmt.Errorf("capture side %q: want wire or clear", req.Side)
	}
	w, err := capture.NewWriter(c, capture.PCAPNG)
	if err != nil {
		return err
	}
	q := capture.NewQueue(w, 4096, 200*time.Millisecond, req.Count)
	p.dp.SetMirror(side, q)
	defer func() {
		p.dp.SetMirror(side, nil)
		q.Close()
	}()
	// The client hangs up to stop: notice it by reading.
	gone := make(chan struct{})
	go func() { io.Copy(io.Discard, c); close(gone) }()
	select {
	case <-ctx.Done():
	case <-gone:
	case <-q.Done(): // the count reached, or the client went away
	}
	return nil
}

// Call sends a request to the lab whose control socket is path.
func Call(path string, req Request) (*Response, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, err
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("lab control: %w", err)
	}
	if resp.Error != "" {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}

// CaptureStream is a capture coming from a lab: pcapng octets until the
// lab stops sending or the caller closes it.
type CaptureStream struct {
	net.Conn
	r *bufio.Reader
}

func (c *CaptureStream) Read(p []byte) (int, error) { return c.r.Read(p) }

// Capture asks the lab whose control socket is path for a capture (req.Cmd
// "capture"). The lab answers with the stream, or with a Response whose
// error Capture returns.
func Capture(path string, req Request) (*CaptureStream, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, err
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		c.Close()
		return nil, err
	}
	r := bufio.NewReader(c)
	// pcapng opens with 0x0A0D0D0A; a refusal is a JSON object.
	if b, err := r.Peek(1); err == nil && b[0] == '{' {
		defer c.Close()
		var resp Response
		if err := json.NewDecoder(r).Decode(&resp); err != nil {
			return nil, fmt.Errorf("lab control: %w", err)
		}
		return nil, errors.New(resp.Error)
	}
	return &CaptureStream{Conn: c, r: r}, nil
}
