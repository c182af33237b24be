package offload

import (
	"encoding/binary"
	"math/bits"
)

// ChecksumAdd adds b to the running Internet checksum sum (RFC 1071) as
// big-endian 16-bit words, padding an odd tail with a zero octet. The
// result is unfolded: fold it with ChecksumFold.
func ChecksumAdd(b []byte, sum uint64) uint64 {
	// 64-bit words with carries: 8 octets per add, a few GB/s, which the
	// software segmentation of every TCP segment needs.
	var c uint64
	for len(b) >= 32 {
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b), 0)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b[8:]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b[16:]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b[24:]), c)
		sum += c
		b = b[32:]
	}
	for len(b) >= 8 {
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b), 0)
		sum += c
		b = b[8:]
	}
	if len(b) >= 4 {
		sum, c = bits.Add64(sum, uint64(binary.BigEndian.Uint32(b)), 0)
		sum += c
		b = b[4:]
	}
	if len(b) >= 2 {
		sum, c = bits.Add64(sum, uint64(binary.BigEndian.Uint16(b)), 0)
		sum += c
		b = b[2:]
	}
	if len(b) == 1 {
		sum, c = bits.Add64(sum, uint64(b[0])<<8, 0)
		sum += c
	}
	return sum
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
