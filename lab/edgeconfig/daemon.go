package edgeconfig

import (
	"fmt"
	"io"

	"github.com/secylab/secylab/routers"
)

// The BGP side for FRR and BIRD 2: the configuration the lab's own frr
// and bird nodes run (routers.FRRConfig, routers.BIRDConfig), so what is
// exported is what the lab proves against its Microsoft edge.
func init() {
	Register(Format{
		Name:    "frr",
		Summary: "an integrated frr.conf (zebra, bgpd, bfdd) for the node's BGP, as the lab's frr nodes run it (FRR 8.4)",
		Comment: "!",
		Applies: needBGP,
		Write:   daemonWriter(routers.FRRConfig, "!"),
	})
	Register(Format{
		Name:    "bird",
		Summary: "a bird.conf for the node's BGP and BFD, as the lab's bird nodes run it (BIRD 2.0)",
		Comment: "#",
		Applies: needBGP,
		Write:   daemonWriter(routers.BIRDConfig, "#"),
	})
}

func daemonWriter(gen func(routers.DaemonConfig) (string, error), comment string) func(io.Writer, *Node) error {
	return func(w io.Writer, n *Node) error {
		conf, err := gen(*n.BGP)
		if err != nil {
			return err
		}
		interval, mult := bfd(n.BGP)
		keepalive, hold := bgpTimers(n.BGP)
		fmt.Fprintf(w, "%s BGP of %s (AS %d) with BFD %v x %d, hold %v / keepalive %v, to:\n", comment, n.Name, n.BGP.ASN, interval, mult, hold, keepalive)
		for _, nb := range n.BGP.Neighbors {
			fmt.Fprintf(w, "%s   %s AS %d (%s)\n", comment, nb.Peer, nb.PeerASN, neighborRole(n, nb))
		}
		_, err = io.WriteString(w, conf)
		return err
	}
}

// neighborRole says what a neighbour is, for comments.
func neighborRole(n *Node, nb routers.DaemonNeighbor) string {
	for _, l := range n.Links {
		for _, s := range n.Sessions(l) {
			if s.Neighbor.Peer != nb.Peer {
				continue
			}
			who := "the far end"
			if l.MicrosoftEdge {
				who = "the Microsoft edge"
			}
			role := who + " " + l.Peer + " over " + l.Name
			if s.VLAN != nil {
				role += ", " + s.VLAN.Peering + " on " + s.VLAN.Interface + " (" + s.VLAN.Tags() + ")"
			}
			switch {
			case nb.Prepend > 0:
				role += fmt.Sprintf(", backup: prepend x%d, local preference %d", nb.Prepend, nb.LocalPref)
			case nb.LocalPref > 0:
				role += fmt.Sprintf(", primary: local preference %d", nb.LocalPref)
			}
			return role
		}
	}
	if nb.PeerASN == n.BGP.ASN {
		return "iBGP sibling, next hop self"
	}
	return "eBGP"
}
