package dataplane

import "encoding/binary"

// virtioNetHdr is struct virtio_net_hdr, which a TAP opened with
// IFF_VNET_HDR puts before every frame in both directions. The legacy
// header is in the host's byte order.
type virtioNetHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16
	gsoSize    uint16
	csumStart  uint16 // from the start of the Ethernet frame
	csumOffset uint16 // from csumStart
}

const (
	virtioNetHdrLen = 10

	virtioNetHdrFNeedsCsum = 1 // the checksum at csumStart+csumOffset is to be completed
	virtioNetHdrFDataValid = 2 // the receiver need not verify the checksum

	virtioNetHdrGSONone  = 0
	virtioNetHdrGSOTCPv4 = 1
	virtioNetHdrGSOUDP   = 3
	virtioNetHdrGSOTCPv6 = 4
	virtioNetHdrGSOECN   = 0x80
)

func (h *virtioNetHdr) decode(b []byte) {
	h.flags = b[0]
	h.gsoType = b[1]
	h.hdrLen = binary.NativeEndian.Uint16(b[2:])
	h.gsoSize = binary.NativeEndian.Uint16(b[4:])
	h.csumStart = binary.NativeEndian.Uint16(b[6:])
	h.csumOffset = binary.NativeEndian.Uint16(b[8:])
}

func (h *virtioNetHdr) encode(b []byte) {
	b[0] = h.flags
	b[1] = h.gsoType
	binary.NativeEndian.PutUint16(b[2:], h.hdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.gsoSize)
	binary.NativeEndian.PutUint16(b[6:], h.csumStart)
	binary.NativeEndian.PutUint16(b[8:], h.csumOffset)
}
