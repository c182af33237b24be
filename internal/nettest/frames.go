package nettest

import "encoding/binary"

// EthFrame is an Ethernet frame from src to dst of the EtherType with n
// octets of payload, each derived from seq and its offset.
func EthFrame(dst, src []byte, etherType uint16, n int, seq byte) []byte {
	f := make([]byte, 14+n)
	copy(f, dst)
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], etherType)
	for i := 14; i < len(f); i++ {
		f[i] = seq ^ byte(i)
	}
	return f
}
