package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/routers"
	"github.com/secylab/secylab/topology"
)

// How long a drain waits for the traffic to move (and a hold for the
// siblings): far more than the few hundred milliseconds it takes, but a
// drain with no other path open must end.
const (
	drainTimeout = 10 * time.Second
	holdTimeout  = 5 * time.Second
)

// drain drains (on) or undrains a link the way ExpressRoute users do, on
// the customer router facing it: AS-path prepend on export
// (expressroute.DrainPrepend in all) so Microsoft prefers the other link,
// and local preference expressroute.DrainLocalPref on import so the
// customer side does too. Undrain restores the configured policies.
//
// It returns once the traffic has moved, read from the kernel FIBs of the
// routers of both ASes (what forwards the packets, whichever daemon
// installed the routes): after a drain no path from either side crosses
// the link, after an undrain every path is whole again (no loop, no
// router without a route).
//
// FRR announces a new best path before zebra has installed it (its
// suppress-fib-pending, which would wait, loses announcements in 8.4), so
// a sibling could be told to forward to a router that still forwards
// back to it: a loop for as long as the FIB lags, lost packets under load.
// So where FRR is on the announcing side the changes are ordered make
// before break: on a drain the router accepts nothing from its FRR
// siblings until they forward on their own (their FIBs no longer lead
// through the drained link), then takes their paths; on an undrain an FRR
// router sends nothing to its siblings until its own BGP table and FIB
// agree on the restored policy, then tells them. secylab's routers and
// BIRD install a route before announcing it and need no such order.
func (l *Lab) drain(ctx context.Context, link string, on bool) error {
	tl := l.topo.Link(link)
	if tl == nil {
		return fmt.Errorf("no link %q in lab %s", link, l.topo.Name)
	}
	var r *bgpRouter
	for _, e := range tl.Ends {
		c := l.router(e.Node)
		if c == nil || len(c.cfg.OnLink(link)) == 0 || c.cfg.ASN == expressroute.MicrosoftASN {
			continue
		}
		if r == nil || c.cfg.Profile == topology.BGPCustomer {
			r = c
		}
	}
	switch {
	case r == nil:
		return fmt.Errorf("link %s has no customer BGP router at either end to drain it", link)
	case r.own != "":
		return fmt.Errorf("%s runs its own %s configuration (%s): drain link %s there as in production (a route-map that prepends and lowers the local preference, then a soft clear)", r.node, r.daemon.Kind, r.own, link)
	}
	nbs := r.cfg.OnLink(link)
	f, err := l.openFIBs()
	if err != nil {
		return err
	}
	defer f.close()
	paths := l.pathsBetween(f, r.cfg.ASN, nbs[0].PeerASN)
	start := time.Now()

	var held []*topology.BGPNeighbor // r's sessions to its siblings, held
	for i, sn := range r.cfg.Neighbors {
		s := l.router(sn.PeerNode)
		if !sn.IBGP(r.cfg.ASN) || s == nil {
			continue
		}
		// Hold a sibling only where it matters: on a drain one whose
		// traffic goes through r and the link (it must move first); on
		// an undrain one whose traffic does not go through r (holding
		// what r sends would take its routes away).
		through := paths.any(f, s.node, func(p path) bool {
			return on && p.crosses(link) || !on && p.passes(r.node)
		})
		if on && s.isFRR() && through || !on && r.isFRR() && !through {
			held = append(held, &r.cfg.Neighbors[i])
		}
	}
	release := func() error {
		var errs []error
		for _, sn := range held {
			errs = append(errs, r.hold(sn, false, false))
		}
		held = nil
		return errors.Join(errs...)
	}
	defer release()
	for _, sn := range held {
		if err := r.hold(sn, on, !on); err != nil {
			return fmt.Errorf("link %s on %s: %w", link, r.node, err)
		}
	}
	if err := l.setDrained(r, link, on); err != nil {
		return err
	}
	if len(held) > 0 {
		var err error
		if on {
			err = l.waitSiblings(ctx, f, paths, r, held, link)
		} else {
			err = l.waitSettled(ctx, f, paths, r, nbs)
		}
		if rerr := release(); rerr != nil {
			return fmt.Errorf("link %s on %s: %w", link, r.node, rerr)
		}
		if err != nil {
			return fmt.Errorf("link %s %s on %s, but %w", link, drainedWord(on), r.node, err)
		}
	}
	what, ok := "moved off "+link, func(p path) bool { return p.err == nil && !p.crosses(link) }
	if !on {
		what, ok = "settled", func(p path) bool { return p.err == nil }
	}
	got, err := paths.wait(ctx, f, drainTimeout, what, ok)
	if err != nil {
		return fmt.Errorf("link %s %s on %s, but %w", link, drainedWord(on), r.node, err)
	}
	desc := make([]string, len(got))
	for i, p := range got {
		desc[i] = p.String()
	}
	l.cfg.Logger.Info("BGP drain: traffic moved", "link", link, "router", r.node, "on", on,
		"after", time.Since(start).Round(time.Millisecond), "paths", desc)
	return nil
}

func drainedWord(on bool) string {
	if on {
		return "drained"
	}
	return "undrained"
}

func (r *bgpRouter) isFRR() bool { return r.daemon != nil && r.daemon.Kind == "frr" }

// waitSiblings waits until the held siblings forward to r's peer AS on
// their own: none of their paths crosses link.
func (l *Lab) waitSiblings(ctx context.Context, f fibs, all pathSet, r *bgpRouter, held []*topology.BGPNeighbor, link string) error {
	sibs := pathSet{l: l}
	for _, k := range all.pairs {
		if slices.ContainsFunc(held, func(sn *topology.BGPNeighbor) bool { return sn.PeerNode == k.from }) {
			sibs.pairs = append(sibs.pairs, k)
		}
	}
	_, err := sibs.wait(ctx, f, holdTimeout, "moved off "+link+" at "+r.node+"'s siblings", func(p path) bool {
		return p.err == nil && !p.crosses(link)
	})
	return err
}

// waitSettled waits until the FRR router r has taken the undrained
// policy: the paths it has over the sessions nbs carry their configured
// local preference again, and for each destination its FIB forwards
// where its best path says.
func (l *Lab) waitSettled(ctx context.Context, f fibs, all pathSet, r *bgpRouter, nbs []*topology.BGPNeighbor) error {
	want := map[netip.Addr]uint32{} // by peer
	for _, nb := range nbs {
		want[nb.Peer] = 100 // FRR's default
		for _, dn := range r.dconf.Neighbors {
			if dn.Name == daemonName(nb.Name) && dn.LocalPref != 0 {
				want[nb.Peer] = dn.LocalPref
			}
		}
	}
	var dsts []netip.Addr
	for _, k := range all.pairs {
		if k.from == r.node {
			dsts = append(dsts, k.dst)
		}
	}
	deadline := time.Now().Add(holdTimeout)
	for {
		why, err := r.settled(f, want, dsts)
		if err != nil {
			return err
		}
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v %s", holdTimeout, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// settled says why r (FRR) has not settled yet, or "": wantLP is the
// local preference the paths from each peer must have.
func (r *bgpRouter) settled(f fibs, wantLP map[netip.Addr]uint32, dsts []netip.Addr) (string, error) {
	table, err := r.daemon.BGPTable()
	if err != nil {
		return "", err
	}
	for _, dst := range dsts {
		var best *routers.BGPPath
		bits := -1
		for i, p := range table {
			if !p.Prefix.Contains(dst) || p.Prefix.Bits() < bits {
				continue
			}
			if p.Prefix.Bits() > bits {
				bits, best = p.Prefix.Bits(), nil
			}
			if want, ok := wantLP[p.Peer]; ok && p.LocalPref != want {
				return fmt.Sprintf("%s's path to %s from %s has local preference %d, not %d", r.node, p.Prefix, p.Peer, p.LocalPref, want), nil
			}
			if p.Best {
				best = &table[i]
			}
		}
		if best == nil {
			return fmt.Sprintf("%s has no best path to %s", r.node, dst), nil
		}
		rs, err := f[r.node].RouteGet(dst.AsSlice())
		if err != nil || len(rs) == 0 {
			return fmt.Sprintf("%s's FIB has no route to %s", r.node, dst), nil
		}
		if gw := nextHop(rs[0]); gw != best.NextHop.Unmap() {
			return fmt.Sprintf("%s's FIB forwards %s to %s, its best path to %s", r.node, dst, gw, best.NextHop), nil
		}
	}
	return "", nil
}

// hold stops (in) what r accepts from its sibling over sn and (out) what
// it sends it, or resumes both.
func (r *bgpRouter) hold(sn *topology.BGPNeighbor, in, out bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.daemon != nil {
		was := r.holds[sn.Name]
		r.holds[sn.Name] = [2]bool{in, out}
		if err := r.daemon.SetPolicy(r.policy(), daemonName(sn.Name)); err != nil {
			r.holds[sn.Name] = was
			return err
		}
		return nil
	}
	base := r.base[sn.Name]
	imp, exp := base.Import, base.Export
	if in {
		imp.Prefixes = bgp.PrefixList{}
	}
	if out {
		exp.Prefixes = bgp.PrefixList{}
	}
	if err := r.speaker.SetImportPolicy(sn.Peer, imp); err != nil {
		return err
	}
	return r.speaker.SetExportPolicy(sn.Peer, exp)
}

// policy is the daemon's configuration with the drains and holds in
// place (r.mu held).
func (r *bgpRouter) policy() routers.DaemonConfig {
	c := r.dconf
	c.Neighbors = slices.Clone(c.Neighbors)
	for i, dn := range c.Neighbors {
		for _, nb := range r.cfg.Neighbors {
			if daemonName(nb.Name) != dn.Name {
				continue
			}
			if r.drained[nb.Link] {
				c.Neighbors[i].LocalPref, c.Neighbors[i].Prepend = expressroute.DrainLocalPref, expressroute.DrainPrepend
			}
			c.Neighbors[i].HoldIn, c.Neighbors[i].HoldOut = r.holds[nb.Name][0], r.holds[nb.Name][1]
		}
	}
	return c
}

// setDrained changes r's policy on link: drained (on) or as configured.
// A daemon gets it through its own configuration and CLI
// (routers.Daemon.SetPolicy), secylab's speaker through its policies; the
// sessions stay up.
func (l *Lab) setDrained(r *bgpRouter, link string, on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	was := r.drained[link]
	r.drained[link] = on
	// Every session over the link: the port's, or each of its peerings'.
	for _, nb := range r.cfg.OnLink(link) {
		if err := r.setPolicy(nb, on); err != nil {
			r.drained[link] = was
			return fmt.Errorf("link %s on %s: %w", link, r.node, err)
		}
	}
	l.cfg.Logger.Info("BGP drain", "link", link, "router", r.node, "daemon", r.daemon != nil, "on", on)
	return nil
}

// setPolicy applies r's policy, drained (on) or not, to session nb.
func (r *bgpRouter) setPolicy(nb *topology.BGPNeighbor, on bool) error {
	if r.daemon != nil {
		return r.daemon.SetPolicy(r.policy(), daemonName(nb.Name))
	}
	base := r.base[nb.Name]
	imp, exp := base.Import, base.Export
	if on {
		imp.LocalPref = expressroute.DrainLocalPref
		exp.Prepend = expressroute.DrainPrepend
	}
	if err := r.speaker.SetImportPolicy(nb.Peer, imp); err != nil {
		return err
	}
	return r.speaker.SetExportPolicy(nb.Peer, exp)
}
