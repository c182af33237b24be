package capture

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

// Counts are what a capture saw, every frame, counted where the frames
// pass (before any queue can drop one): by EtherType, and the frames that
// are ESP in UDP or in clear.
type Counts struct {
	Frames uint64 `json:"frames"`
	// EtherTypes counts the frames by EtherType, named like 0x88e5.
	EtherTypes map[string]uint64 `json:"etherTypes"`
	// ESPInUDP counts IPv4 UDP 4500 frames that carry ESP (RFC 3948);
	// Clear the frames that are neither MACsec, MKA (EAPOL), ARP, IKE nor
	// ESP in UDP: traffic in clear. IKE's own messages (an IKEv2 header on
	// UDP 500, or on UDP 4500 behind the non-ESP marker) are neither: they
	// are the key exchange, not user payload, and their payloads after
	// IKE_SA_INIT are encrypted.
	ESPInUDP uint64 `json:"espInUDP"`
	Clear    uint64 `json:"clear"`
}

const (
	etherTypeARP  = 0x0806
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
)

// Classify tells ESP in UDP and cleartext apart among the frames that are
// not MACsec or MKA. ARP and IPv6 neighbour and multicast listener
// discovery are the link's own control, neither. IKE messages (UDP 500, or UDP 4500 with the non-ESP
// marker, RFC 3948 §2.2) are neither ESP nor clear; any other IPv4 frame,
// a clear ping or a UDP datagram to port 500 that is no IKEv2 message
// included, is clear.
func Classify(frame []byte) (esp, clear bool) {
	et := uint16(frame[12])<<8 | uint16(frame[13])
	switch et {
	case macsec.EtherType, mka.EtherTypeEAPOL, etherTypeARP:
		return false, false
	case etherTypeIPv4:
		ihl := int(frame[14]&0x0F) * 4
		if len(frame) >= 14+ihl+8 && frame[23] == 17 {
			udp := frame[14+ihl:]
			sport, dport := uint16(udp[0])<<8|uint16(udp[1]), uint16(udp[2])<<8|uint16(udp[3])
			payload, ulen := udp[8:], (int(udp[4])<<8|int(udp[5]))-8
			switch {
			case sport == 500 || dport == 500:
				if isIKEv2(payload, ulen) {
					return false, false
				}
			case sport == 4500 || dport == 4500:
				if len(payload) >= 4 && payload[0]|payload[1]|payload[2]|payload[3] == 0 {
					if isIKEv2(payload[4:], ulen-4) {
						return false, false
					}
					return false, true
				}
				return true, false
			}
		}
	case etherTypeIPv6:
		if isNDOrMLD(frame[14:]) {
			return false, false
		}
	}
	return false, true
}

// isNDOrMLD tells whether an IPv6 packet is neighbour discovery (RFC
// 4861, ICMPv6 133–137) or multicast listener discovery (RFC 3810, 130–132
// and 143, behind a hop-by-hop header): the link's own control, as ARP is
// for IPv4, not user payload. An echo (a ping) is not.
func isNDOrMLD(ip []byte) bool {
	if len(ip) < 40+4 {
		return false
	}
	next, off := ip[6], 40
	if next == 0 { // hop-by-hop options (MLD's router alert)
		next, off = ip[40], 40+(int(ip[41])+1)*8
	}
	if next != 58 || len(ip) < off+1 {
		return false
	}
	switch ip[off] {
	case 130, 131, 132, 133, 134, 135, 136, 137, 143:
		return true
	}
	return false
}

// isIKEv2 tells whether b, the first octets of a datagram of n octets,
// holds an IKEv2 message's header (RFC 7296 §3.1): version 2.0, an
// exchange type IKEv2 assigns (34 and up), and a message length that is
// the datagram's. A capture may have cut the rest of b off.
func isIKEv2(b []byte, n int) bool {
	return len(b) >= 28 && b[17] == 0x20 && b[18] >= 34 && int(binary.BigEndian.Uint32(b[24:28])) == n
}

// Counter counts every frame on the forwarding path, then hands it on
// (to a Queue, which may drop it).
type Counter struct {
	next interface{ Capture(time.Time, []byte) }
	mu   sync.Mutex
	ets  map[uint16]uint64
	c    Counts
}

// NewCounter counts the frames it passes to next.
func NewCounter(next interface{ Capture(time.Time, []byte) }) *Counter {
	return &Counter{next: next, ets: map[uint16]uint64{}}
}

// Capture counts frame and passes it on.
func (c *Counter) Capture(ts time.Time, frame []byte) {
	c.mu.Lock()
	c.c.Frames++
	if len(frame) >= 14 {
		c.ets[uint16(frame[12])<<8|uint16(frame[13])]++
		esp, clear := Classify(frame)
		if esp {
			c.c.ESPInUDP++
		}
		if clear {
			c.c.Clear++
		}
	}
	c.mu.Unlock()
	c.next.Capture(ts, frame)
}

// Counts returns the counts so far.
func (c *Counter) Counts() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.c
	n.EtherTypes = map[string]uint64{}
	for et, v := range c.ets {
		n.EtherTypes[EtherTypeName(et)] = v
	}
	return n
}

// EtherTypeName is how captures name an EtherType: 0x88e5.
func EtherTypeName(et uint16) string { return fmt.Sprintf("0x%04x", et) }

// The counts travel at the end of a pcapng stream in a custom block
// (pcapng §4.8, type 0x40000BAD: may be copied), with the private
// enterprise number RFC 5612 sets aside for examples and a tag: readers
// that do not know it skip it, Wireshark included.
const (
	customBlockType = 0x40000BAD
	countsPEN       = 32473
	countsTag       = "secylab-counts "
)

// WriteCounts ends a pcapng stream with c, and flushes. In pcap it does
// nothing.
func (w *Writer) WriteCounts(c Counts) error {
	if w.ng == nil {
		return nil
	}
	if err := w.ng.Flush(); err != nil {
		return err
	}
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	body = append([]byte(countsTag), body...)
	pad := (4 - len(body)%4) % 4
	n := 4 + 4 + 4 + len(body) + pad + 4
	b := make([]byte, 0, n)
	b = binary.LittleEndian.AppendUint32(b, customBlockType)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, countsPEN)
	b = append(b, body...)
	b = append(b, make([]byte, pad)...)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	_, err = w.out.Write(b)
	if err == nil {
		if f, ok := w.out.(interface{ Flush() error }); ok {
			err = f.Flush()
		}
	}
	return err
}

// CountsAtEnd finds the counts WriteCounts put at the end of a (little
// endian, as Writer writes it) pcapng stream whose last octets are tail.
func CountsAtEnd(tail []byte) (Counts, bool) {
	var c Counts
	if len(tail) < 16 {
		return c, false
	}
	n := int(binary.LittleEndian.Uint32(tail[len(tail)-4:]))
	if n < 16 || n > len(tail) {
		return c, false
	}
	b := tail[len(tail)-n:]
	if binary.LittleEndian.Uint32(b) != customBlockType || binary.BigEndian.Uint32(b[8:]) != countsPEN {
		return c, false
	}
	body := b[12 : n-4]
	if len(body) < len(countsTag) || string(body[:len(countsTag)]) != countsTag {
		return c, false
	}
	body = body[len(countsTag):]
	for len(body) > 0 && body[len(body)-1] == 0 {
		body = body[:len(body)-1]
	}
	return c, json.Unmarshal(body, &c) == nil
}
