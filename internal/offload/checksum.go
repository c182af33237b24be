package offload

import (
	"encoding/binary"
	"math/bits"
)

// ChecksumAdd adds b to the running Internet checksum sum (RFC 1071) as
// big-endian 16-bit words, padding an odd tail with a zero octet. The
// result is unfolded: fold it with ChecksumFold.
func ChecksumAdd(b []byte, sum uint64) uint64 {
	// The one's complement sum is the same in either byte order up to a
	// swap of the folded result (RFC 1071, 2.(B)), so b is summed as
	// little-endian 64-bit words, loaded without byte swaps, eight adds
	// with carry per 64 octets: about 1.5 times the speed of big-endian
	// words, for the software segmentation of every TCP segment.
	var s, c uint64
	for len(b) >= 64 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), 0)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[32:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[40:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[48:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[56:]), c)
		s += c
		b = b[64:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), 0)
		s += c
		b = b[8:]
	}
	if len(b) > 0 {
		var tail [8]byte // zero-padded: an odd last octet is a word's high octet
		copy(tail[:], b)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(tail[:]), 0)
		s += c
	}
	s, c = bits.Add64(sum, uint64(bits.ReverseBytes16(ChecksumFold(s))), 0)
	return s + c
}

// ChecksumFold folds an unfolded sum to 16 bits (not inverted).
func ChecksumFold(sum uint64) uint16 {
	s := sum>>32 + sum&0xffffffff
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// PseudoHeaderSum is the unfolded sum of the TCP/UDP pseudo-header for the
// addresses src and dst (4 or 16 octets each), protocol proto and
// transport length n.
func PseudoHeaderSum(src, dst []byte, proto uint8, n int) uint64 {
	sum := ChecksumAdd(src, 0)
	sum = ChecksumAdd(dst, sum)
	return sum + uint64(proto) + uint64(n)
}
