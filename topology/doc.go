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
package topology
