package topology

import (
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/fieldref"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/topology.md from the types")

// notes describe the fields whose types carry no doc comment, and give
// the format of string values; a note for a field that no longer exists
// fails the test.
var notes = map[string]fieldref.Note{
	"name":                                 {Doc: "The lab's name (at most 10 bytes): it names the namespaces, sl-NAME-NODE."},
	"nodes":                                {Doc: "The devices, each in a network namespace of its own, by name."},
	"nodes.NAME.ports":                     {Doc: "The node's interfaces by name (a Linux interface name, at most 15 bytes)."},
	"nodes.NAME.ports.NAME.addresses":      {Type: "list of prefixes", Doc: "IPv4/IPv6 addresses with prefix length: 192.168.100.129/30."},
	"hosts.NAME":                           {Doc: "A machine of the lab, by name (secylab lab up FILE --host NAME runs its half)."},
	"nodes.NAME.routes":                    {Doc: "Static routes; each leaves through the port whose subnet holds via."},
	"nodes.NAME.routes[].prefix":           {Type: "prefix", Doc: "The destination: 10.50.0.0/16."},
	"nodes.NAME.routes[].via":              {Type: "address", Doc: "The next hop, in a connected subnet of the node."},
	"nodes.NAME.bgp.asn":                   {Doc: "The node's AS: 1 to 4294967294, not 23456; 12076 (the default) only with profile microsoft-edge."},
	"nodes.NAME.bgp.routerID":              {Type: "address", Doc: "Unique in the lab; default: the node's address on its first neighbour's link."},
	"nodes.NAME.bgp.neighbors":             {Doc: "One per link; the peer is the node at the link's other end, its AS from that node's bgp block."},
	"nodes.NAME.bgp.neighbors[].link":      {Doc: "The link the session runs over; both ends must list it."},
	"nodes.NAME.bgp.neighbors[].bfd":       {Doc: "Overrides the node's bfd for this neighbour."},
	"nodes.NAME.bgp.holdTime":              {Type: "duration"},
	"nodes.NAME.bgp.keepalive":             {Type: "duration"},
	"links":                                {Doc: "Point-to-point links (veth pairs) between two ports."},
	"links[].name":                         {Doc: "The link's name: its veth ends carry it (at most 15 bytes)."},
	"links[].endpoints":                    {Type: "two node:port", Doc: "The two ends: [ce1:er1, msee1:er1]."},
	"links[].macsec.enabled":               {Doc: "Runs MACsec with MKA (static CAK) on the link; only between ports of kind direct with profile expressroute."},
	"links[].macsec.cipher":                {Doc: "Azure's macSecConfig.cipher: GcmAes128, GcmAes256, GcmAesXpn128 or GcmAesXpn256 (required when enabled)."},
	"links[].macsec.sciState":              {Doc: "Azure's sciState: Enabled sends the SCI in the SecTAG, Disabled (the default) leaves it out."},
	"links[].macsec.secret":                {Doc: "generate (a fresh CAK/CKN pair at lab up, the same at both ends) or a key file (0600; relative to the topology file)."},
	"links[].macsec.replayProtect":         {Doc: "802.1AE replay protection (default true)."},
	"links[].macsec.replayWindow":          {Doc: "Frames accepted out of order, 0 to 4294967295 (needs replayProtect)."},
	"links[].macsec.keyServerPriority":     {Doc: "MKA key server priority, 0 (highest) to 255; default 16."},
	"links[].macsec.overrides":             {Doc: "Per end (node:port): a cipher or secret of its own, for rehearsing a mismatch (with allowMismatch)."},
	"links[].macsec.overrides.NAME.cipher": {Doc: "The end's cipher, as links[].macsec.cipher."},
	"links[].macsec.overrides.NAME.secret": {Doc: "The end's secret, as links[].macsec.secret; generate gives it a pair of its own."},
	"links[].impairments.delay":            {Type: "duration", Doc: "Added to every frame: 20ms."},
	"links[].impairments.jitter":           {Type: "duration", Doc: "Uniform around delay, never below 0."},
	"links[].impairments.loss":             {Type: "percentage", Doc: "The share of frames dropped: 1%."},
	"links[].impairments.rate":             {Type: "bit rate", Doc: "Limits the wire, in tc's units: 100Mbit; unset: unlimited."},
	"links[].impairments.down":             {Doc: "The link starts cut: every frame lost."},
	"nodes.NAME.bgp.neighbors[].peering":   {Doc: "AzurePrivatePeering or MicrosoftPeering: the session runs on that peering of the link's circuit (its VLAN interface, e.g. er1.100) and is named after the link and the tags (link1.100)."},
	"expressRoutePorts[].circuits[].sTag":  {Doc: "The circuit's 802.1ad S-tag on a QinQ port, 1 to 4094, unique on the port; none on Dot1Q."},
	"expressRoutePorts[].circuits[].peerings[].primaryPeerAddressPrefix":                        {Type: "prefix", Doc: "The /30 of link1: the customer takes the first host address, Microsoft the second; public on Microsoft peering."},
	"expressRoutePorts[].circuits[].peerings[].secondaryPeerAddressPrefix":                      {Type: "prefix", Doc: "The /30 of link2, as the primary's."},
	"nodes.NAME.bgp.neighbors[].circuit":                                                        {Doc: "With peering: the circuit whose peering the session runs on, when the link carries several."},
	"expressRoutePorts":                                                                         {Doc: "ExpressRoute Direct port pairs, as Azure's expressRoutePorts resources: their links, bandwidth, encapsulation and circuits."},
	"expressRoutePorts[].name":                                                                  {Doc: "The port's name (the runbook's $PORT)."},
	"expressRoutePorts[].bandwidthInGbps":                                                       {Doc: "10 or 100; XPN ciphers are refused on 10 Gbps ports."},
	"expressRoutePorts[].encapsulation":                                                         {Doc: "Dot1Q (a VLAN tag per peering) or QinQ (an S-tag per circuit, a C-tag per peering)."},
	"expressRoutePorts[].links":                                                                 {Type: "list of links", Doc: "The lab's links standing for link1 (primary) and link2 (secondary)."},
	"expressRoutePorts[].circuits":                                                              {Doc: "The circuits riding the port."},
	"expressRoutePorts[].circuits[].name":                                                       {Doc: "The circuit's name (the runbook's $CIRCUIT)."},
	"expressRoutePorts[].circuits[].serviceProviderName":                                        {Doc: "none (or left out): a circuit on a Direct port has no service provider; anything else is refused."},
	"expressRoutePorts[].circuits[].bandwidthInGbps":                                            {Doc: "A bandwidth Azure offers on the port (10 Gbps: 1, 2, 5, 10; 100 Gbps: 5, 10, 40, 100); the circuits' sum within the port's."},
	"expressRoutePorts[].circuits[].macsec":                                                     {Doc: "inherit (the port's MACsec); Azure has no per-circuit opt-out."},
	"expressRoutePorts[].circuits[].peerings":                                                   {Doc: "The circuit's peerings, each a sub-interface of the port with a BGP session per link."},
	"expressRoutePorts[].circuits[].peerings[].peeringType":                                     {Doc: "AzurePrivatePeering or MicrosoftPeering."},
	"expressRoutePorts[].circuits[].peerings[].vlanId":                                          {Doc: "The peering's VLAN ID (the C-tag on QinQ), 1 to 4094, unique on the port."},
	"expressRoutePorts[].circuits[].peerings[].peerASN":                                         {Doc: "The customer router's AS."},
	"expressRoutePorts[].circuits[].peerings[].microsoftPeeringConfig":                          {Doc: "Microsoft peering only."},
	"expressRoutePorts[].circuits[].peerings[].microsoftPeeringConfig.advertisedPublicPrefixes": {Type: "list of prefixes", Doc: "Public prefixes the customer may advertise; Microsoft's edge accepts nothing else."},
	"tunnels[].name":         {Doc: "The tunnel's name."},
	"tunnels[].ends":         {Doc: "The two gateway nodes."},
	"tunnels[].ends[].node":  {Doc: "A gateway node."},
	"tunnels[].cipher":       {Doc: "aes256gcm16 (the default) or aes128gcm16: AES-GCM with a 16-octet ICV (RFC 4106)."},
	"tunnels[].esn":          {Doc: "64-bit extended sequence numbers."},
	"tunnels[].replayWindow": {Doc: "ESP replay window in packets."},
}

// TestFieldReference: docs/topology.md is the reference of every field of
// a topology file, generated from the types that decode it (rawTopology
// and what it holds, with their doc comments). It fails when the file is
// stale: go generate ./topology rewrites it.
func TestFieldReference(t *testing.T) {
	p, err := fieldref.Parse(".")
	require.NoError(t, err)
	w := &fieldref.Walker{}
	w.Type(p, "rawTopology", "")
	require.NoError(t, w.Apply(notes))
	doc := "# Topology file reference\n\n" +
		"Every field of a topology file (`secylab lab up --topology FILE`, a scenario's `topology:`), " +
		"generated from the Go types that decode it (`topology/`); `go generate ./topology` rewrites this file and " +
		"`go test ./topology` fails when it is stale. `NAME` stands for a name you choose (a node, a port); `[]` for each " +
		"item of a list. Start from a built-in: `secylab topology show expressroute-direct`; check a file without root: " +
		"`secylab validate FILE`.\n\n" + fieldref.Markdown(w.Rows)
	const file = "../docs/topology.md"
	if *updateDocs {
		require.NoError(t, os.WriteFile(file, []byte(doc), 0o644))
	}
	have, err := os.ReadFile(file)
	require.NoError(t, err)
	fieldref.RequireSame(t, doc, string(have), "docs/topology.md is stale: run go generate ./topology")
}
