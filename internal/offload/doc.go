// Package offload is the software side of TCP and UDP segmentation offload
// for TUN and TAP devices opened with IFF_VNET_HDR: it cuts the TCP (and
// UDP, GSOUDPL4) super-packets such a device hands over into segments
// (GSO), coalesces in-order segments of a TCP flow, or runs of datagrams
// of a UDP flow, into super-packets to write to it (GRO), and completes
// the checksums the kernel leaves to the device.
//
// The same code serves Ethernet frames (a TAP, Link = LinkEthernet) and
// bare IP packets (a TUN, Link = LinkIP): the link parameter is the length
// of the header before the IP header. Nothing here allocates.
package offload
