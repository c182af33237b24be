package lab

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/secylab/secylab/bgp"
)

// Client talks to a running lab over its control socket.
type Client struct {
	Lab    string
	Socket string

	hasBGP, hasMACsec bool // the last status showed BGP speakers, MACsec ports

	// remote dials a half's remote control endpoint (DialRemote); nil:
	// the unix socket.
	remote func(context.Context) (net.Conn, error)
}

// Remote reports whether c reaches a half of the lab on another host.
func (c *Client) Remote() bool { return c.remote != nil }

// Status returns the lab's state.
func (c *Client) Status() (*LabStatus, error) {
	st, err := c.StatusOf(context.Background(), "")
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", c.Lab, err)
	}
	c.hasBGP, c.hasMACsec = len(st.BGP) > 0, false
	for _, p := range st.Ports {
		c.hasMACsec = c.hasMACsec || p.MACsec
	}
	return st, nil
}

// NotReadyError says what did not come up within the time given.
type NotReadyError struct {
	What    string // "MKA has not secured", "BGP sessions not Established"
	Pending []string
	After   time.Duration
}

func (e *NotReadyError) Error() string {
	return fmt.Sprintf("%s within %v: %s", e.What, e.After, strings.Join(e.Pending, ", "))
}

// Unsecured lists the MACsec ports ("node:port (link)") whose MKA has not
// secured the link.
func (st *LabStatus) Unsecured() []string {
	var pending []string
	for _, p := range st.Ports {
		if p.MACsec && (p.MKA == nil || !p.MKA.Secured) {
			pending = append(pending, p.Node+":"+p.Name+" ("+p.Link+")")
		}
	}
	return pending
}

// NotEstablished lists the BGP sessions ("node→link") that are not
// Established, and apart those held down after exceeding their maximum
// prefixes.
func (st *LabStatus) NotEstablished() (pending, heldDown []string) {
	for _, r := range st.BGP {
		if r.Status == nil {
			continue
		}
		for _, n := range r.Status.Neighbors {
			switch {
			case n.HeldDown:
				heldDown = append(heldDown, r.Node+"→"+n.Name)
			case n.State != bgp.Established:
				pending = append(pending, r.Node+"→"+n.Name)
			}
		}
	}
	return pending, heldDown
}

// WaitSecured waits until MKA has secured every port with MACsec on; a
// *NotReadyError lists those that are not after timeout.
func (c *Client) WaitSecured(ctx context.Context, timeout time.Duration) error {
	return waitSecured(ctx, c.Status, timeout)
}

// WaitBGP waits until every BGP session is Established or held down
// (returned); a *NotReadyError lists the others after timeout.
func (c *Client) WaitBGP(ctx context.Context, timeout time.Duration) (heldDown []string, err error) {
	return waitBGP(ctx, c.Status, timeout)
}

func waitSecured(ctx context.Context, status func() (*LabStatus, error), timeout time.Duration) error {
	var pending []string
	err := poll(ctx, status, timeout, func(st *LabStatus) bool {
		pending = st.Unsecured()
		return len(pending) == 0
	})
	if err == errTimeout {
		return &NotReadyError{What: "MKA has not secured", Pending: pending, After: timeout}
	}
	return err
}

func waitBGP(ctx context.Context, status func() (*LabStatus, error), timeout time.Duration) (heldDown []string, err error) {
	var pending []string
	err = poll(ctx, status, timeout, func(st *LabStatus) bool {
		pending, heldDown = st.NotEstablished()
		return len(pending) == 0
	})
	if err == errTimeout {
		return heldDown, &NotReadyError{What: "BGP sessions not Established", Pending: pending, After: timeout}
	}
	return heldDown, err
}

var errTimeout = fmt.Errorf("timeout")

// poll asks for the lab's status every 50 ms until cond holds.
func poll(ctx context.Context, status func() (*LabStatus, error), timeout time.Duration, cond func(*LabStatus) bool) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := status()
		if err != nil {
			return err
		}
		if cond(st) {
			return nil
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
