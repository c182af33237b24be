package offload

import "encoding/binary"

// VirtioNetHdr is struct virtio_net_hdr, which a TUN or TAP opened with
// IFF_VNET_HDR puts before every packet in both directions. The legacy
// header is in the host's byte order.
type VirtioNetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16 // from the start of the frame (TAP) or IP packet (TUN)
	CsumOffset uint16 // from CsumStart
}

const (
	// VirtioNetHdrLen is the length of the header on the wire.
	VirtioNetHdrLen = 10

	FlagNeedsCsum = 1 // the checksum at CsumStart+CsumOffset is to be completed
	FlagDataValid = 2 // the receiver need not verify the checksum

	GSONone  = 0
	GSOTCPv4 = 1
	GSOUDP   = 3
	GSOTCPv6 = 4
	GSOECN   = 0x80
)

// Decode reads the header from b.
func (h *VirtioNetHdr) Decode(b []byte) {
	h.Flags = b[0]
	h.GSOType = b[1]
	h.HdrLen = binary.NativeEndian.Uint16(b[2:])
	h.GSOSize = binary.NativeEndian.Uint16(b[4:])
	h.CsumStart = binary.NativeEndian.Uint16(b[6:])
	h.CsumOffset = binary.NativeEndian.Uint16(b[8:])
}

// Encode writes the header into b.
func (h *VirtioNetHdr) Encode(b []byte) {
	b[0] = h.Flags
	b[1] = h.GSOType
	binary.NativeEndian.PutUint16(b[2:], h.HdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.GSOSize)
	binary.NativeEndian.PutUint16(b[6:], h.CsumStart)
	binary.NativeEndian.PutUint16(b[8:], h.CsumOffset)
}
