// Package topology is the lab graph: the YAML topology file, its validation
// (graph sanity and, with profile expressroute, Azure ExpressRoute Direct's
// MACsec rules), the built-in topologies, and on Linux the life cycle of the
// namespaces and veth pairs that make a lab, with a state file so that a lab
// is always torn down exactly.
//
// # Names
//
// Everything a lab makes is named from the lab name, so that several labs
// coexist and teardown touches only its own objects:
//
//	namespace             sl-<lab>-<node>                  e.g. sl-er-ce1
//	plain port            veth named <port>                e.g. lan1 (carries the addresses)
//	controlled port       TAP named <port>, made by the    e.g. er1 (carries the addresses)
//	                      dataplane
//	its wire (veth)       named <link>                     e.g. link1 (no addresses, no IPv6)
//
// A veth pair is created inside its first node's namespace with the peer
// placed directly in the second (one RTM_NEWLINK), under the final names:
// it never exists in the root namespace, so no crash can strand it there,
// and it goes away with the namespaces. That is why there are no temporary
// interface names.
//
// A port is controlled (the TAP is the controlled port, the veth the
// uncontrolled port of 802.1AE) when its link has MACsec enabled or
// impairments, or the port is an ExpressRoute Direct port (kind direct):
// then the dataplane forwards between TAP and wire in user space. Port and link names are
// Linux interface names (at most 15 bytes); the lab name is at most 10 bytes.
//
// # External nodes
//
// A node of kind external is a device the lab does not run (a router on a
// NIC, a VM on a TAP, a container on a veth): no namespace, nothing made.
// Each of its ports names a host interface (interface: NAME; force: true
// to use one that is up with addresses of the host). The lab's port at the
// other end of the link is controlled, and its wire is that interface in
// the namespace the lab was started in (Port.HostWire). Create records in
// the state what it changes on the interface (offloads, IPv6, link state)
// before changing it; Destroy restores it, also after a crash.
//
// # Circuits
//
// expressRoutePorts describes ExpressRoute Direct port pairs as Azure does
// (bandwidthInGbps, encapsulation Dot1Q or QinQ, links primary first) and
// their circuits and peerings (circuit.go). Every peering becomes a
// VLANIface of the port at both ends of each link: a TAP named
// PORT.VID (PORT.STAG.CTAG on QinQ), made by the dataplane, with the
// peering's address from its /30 (the customer the first host address,
// Microsoft the second), tagged and untagged by the port's forwarder.
//
// # BGP
//
// A node of kind router, bird or frr may have a bgp block:
//
//	bgp:
//	  asn: 65001                # 1..4294967294 (not 23456); 12076 only with microsoft-edge (its default)
//	  routerID: 1.1.1.1         # unique; default: our address on the first neighbour's link
//	  profile: customer         # customer | microsoft-edge | (none: no policy)
//	  networks: [10.1.0.0/16]   # originated; with a profile the only prefixes exported over eBGP
//	  neighbors:                # one per link; the peer is the node at the other end, its
//	    - {link: link1, prefer: true}   # address the one in our subnet, its AS from its bgp block
//	    - {link: ce-lan, bfd: false}    # same AS at both ends: iBGP (next hop self, no filter)
//	  bfd: true                 # 300 ms × 3 to every neighbour unless it says bfd: false
//	  holdTime: 9s              # lab default 9s / keepalive 3s; production 180s / 60s
//	  keepalive: 3s
//
// customer: a link without prefer: true is the backup, with AS-path
// prepend ×3 on export and local preference 90 (against 100) on import.
// microsoft-edge: exports only its networks and drops a neighbour that
// sends more than 4,000 IPv4 or 100 IPv6 prefixes. Both ends of a link must
// list it. A bird or frr node is a customer router run by that daemon
// (eBGP to the Microsoft edge, iBGP to a sibling in its AS, next hop
// self), configured by package routers' generators.
package topology

//go:generate go test -run ^TestFieldReference$ -update-docs .
