package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/secylab/secylab/bgp/bfd"
	"github.com/secylab/secylab/clock"
)

// Port is BGP's TCP port (RFC 4271 §8.2.1).
const Port = 179

// Config is one speaker: its identity, defaults for its neighbours, and
// where sockets, time and the FIB come from.
type Config struct {
	ASN      uint32
	RouterID netip.Addr // IPv4, the BGP Identifier

	// HoldTime is offered in OPEN; the session uses the lower of the two
	// offers (RFC 4271 §4.2), and 0 means no keepalives at all. Default 90 s.
	HoldTime time.Duration
	// KeepaliveTime caps the keepalive interval, which is otherwise a
	// third of the negotiated hold time.
	KeepaliveTime time.Duration
	// ConnectRetryTime is the ConnectRetry timer. Default 5 s, shorter
	// than RFC 4271's 120 s suggestion so a lab heals quickly.
	ConnectRetryTime time.Duration
	// IdleHoldTime is how long a neighbour rests in Idle after its
	// session ended before trying again. Default 1 s.
	IdleHoldTime time.Duration
	// MaxPaths is the ECMP width; 1 (the default) disables multipath.
	MaxPaths int

	// Networks are originated with ORIGIN IGP.
	Networks  []netip.Prefix
	Neighbors []NeighborConfig

	// Listen, if set, opens the listener incoming sessions arrive on
	// (usually TCP :179 inside the router's namespace).
	Listen func() (net.Listener, error)
	// Dial, if set, opens a connection to remote from local (local may be
	// invalid: let the kernel choose). Without it every neighbour is passive.
	Dial func(ctx context.Context, local netip.Addr, remote netip.AddrPort) (net.Conn, error)

	FIB   FIB         // nil: install nothing
	Clock clock.Clock // nil: the real clock
	// Rand returns uniformly random numbers for the jitter of RFC 4271
	// §10 on the ConnectRetry and IdleHold timers, which keeps two sides
	// that went down together from retrying in step. nil: math/rand/v2;
	// a constant removes the jitter.
	Rand   func() uint32
	Logger *slog.Logger
}

// NeighborConfig is one BGP neighbour and the policy towards it.
type NeighborConfig struct {
	Name    string // display name, e.g. "link1"
	Address netip.Addr
	Port    uint16 // default 179
	ASN     uint32

	// LocalAddress is our address on the link: the dial source and the
	// NEXT_HOP we announce. Default: the connection's local address.
	LocalAddress netip.Addr
	// LocalAddress6 is the IPv6 NEXT_HOP for IPv6 routes over an IPv4
	// session; default the IPv4-mapped LocalAddress.
	LocalAddress6 netip.Addr

	// Families to negotiate; default IPv4 and IPv6 unicast.
	Families []Family

	// HoldTime and KeepaliveTime override the speaker's for this neighbour.
	HoldTime      time.Duration
	KeepaliveTime time.Duration
	// HoldTimeZero offers a hold time of 0 (no keepalives) to this neighbour.
	HoldTimeZero bool

	// Passive neighbours are never dialled; we wait for them.
	Passive bool

	Import, Export Policy
	MaxPrefix      MaxPrefix

	// BFD, if set, is the BFD session to this neighbour: when it goes
	// from Up to Down the BGP session is dropped at once (RFC 5882 §4.1).
	BFD *bfd.Session
}

func (c *Config) check() error {
	if c.ASN == 0 {
		return errors.New("bgp: config: ASN is 0; want 1..4294967295")
	}
	if !c.RouterID.Is4() || c.RouterID.IsUnspecified() {
		return fmt.Errorf("bgp: config: router ID %v must be a non-zero IPv4 address", c.RouterID)
	}
	seen := map[netip.Addr]bool{}
	for i, n := range c.Neighbors {
		if !n.Address.IsValid() {
			return fmt.Errorf("bgp: config: neighbour %d (%q) has no address", i, n.Name)
		}
		if seen[n.Address] {
			return fmt.Errorf("bgp: config: neighbour %v appears twice", n.Address)
		}
		seen[n.Address] = true
		if n.ASN == 0 {
			return fmt.Errorf("bgp: config: neighbour %v has ASN 0", n.Address)
		}
		for _, h := range []time.Duration{c.HoldTime, n.HoldTime} {
			if h != 0 && (h < 3*time.Second || h > 65535*time.Second) {
				return fmt.Errorf("bgp: config: hold time %v for %v: want 0 or 3s..65535s (RFC 4271 §4.2)", h, n.Address)
			}
		}
	}
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
