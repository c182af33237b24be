package mka

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"github.com/secylab/secylab/macsec"
)

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
}

// DecodeFrame parses an Ethernet frame carrying an MKPDU into m and returns
// the part the ICV covers and the ICV. It checks the format only: the
// caller matches the CKN, the algorithm agility and the ICV (CheckICV).
// Errors wrap ErrNotMKPDU or ErrMalformed. It never panics, and allocates
// only when m's peer and suite slices must grow.
func DecodeFrame(frame []byte, m *MKPDU) (covered, icv []byte, err error) {
	if len(frame) < frameHeaderLen {
		return nil, nil, fmt.Errorf("%w: %d octets is shorter than the Ethernet and EAPOL headers", ErrNotMKPDU, len(frame))
	}
	if et := binary.BigEndian.Uint16(frame[12:]); et != EtherTypeEAPOL {
		return nil, nil, fmt.Errorf("%w: EtherType %#04x", ErrNotMKPDU, et)
	}
	if typ := frame[ethHeaderLen+1]; typ != EAPOLTypeMKA {
		return nil, nil, fmt.Errorf("%w: EAPOL packet type %d", ErrNotMKPDU, typ)
	}
	if frame[0]&0x01 == 0 {
		return nil, nil, malformed("destination %x is not a group address", frame[:6])
	}
	if frame[ethHeaderLen] == 0 {
		return nil, nil, malformed("EAPOL protocol version 0")
	}
	n := int(binary.BigEndian.Uint16(frame[ethHeaderLen+2:]))
	if n > len(frame)-frameHeaderLen {
		return nil, nil, malformed("EAPOL body length %d exceeds the %d octets present", n, len(frame)-frameHeaderLen)
	}
	// Octets after the EAPOL body are Ethernet padding.
	body := frame[frameHeaderLen : frameHeaderLen+n]
	icvLen, err := m.decodeBody(body)
	if err != nil {
		return nil, nil, err
	}
	end := frameHeaderLen + n
	return frame[:end-icvLen], frame[end-icvLen : end], nil
}

// decodeBody parses the parameter sets of an MKPDU and returns the ICV
// length (16: the only one AES-CMAC gives).
func (m *MKPDU) decodeBody(b []byte) (int, error) {
	*m = MKPDU{LivePeers: m.LivePeers[:0], PotentialPeers: m.PotentialPeers[:0], CipherSuites: m.CipherSuites[:0]}
	if len(b)%4 != 0 {
		return 0, malformed("body length %d is not a multiple of 4", len(b))
	}
	if len(b) < 4+basicBodyMin+MinCKNLen+3+ICVLen {
		return 0, malformed("body length %d is too short for a Basic Parameter Set and an ICV", len(b))
	}
	// Basic Parameter Set, always first.
	n := int(binary.BigEndian.Uint16(b[2:]) & 0x0FFF)
	if n < basicBodyMin+MinCKNLen || n > basicBodyMin+MaxCKNLen {
		return 0, malformed("Basic Parameter Set body length %d: want 29..60 (a 1..32-octet CKN)", n)
	}
	if 4+pad4(n)+ICVLen > len(b) {
		return 0, malformed("Basic Parameter Set body length %d overruns the MKPDU", n)
	}
	if b[0] == 0 {
		return 0, malformed("MKA version 0")
	}
	m.Version = b[0]
	m.KeyServerPriority = b[1]
	m.KeyServer = b[2]&0x80 != 0
	m.MACsecDesired = b[2]&0x40 != 0
	m.MACsecCapability = b[2] >> 4 & 0x03
	p := b[4:]
	m.SCI = macsec.SCI(binary.BigEndian.Uint64(p))
	m.MI = MI(p[8:20])
	m.MN = binary.BigEndian.Uint32(p[20:])
	m.AlgorithmAgility = binary.BigEndian.Uint32(p[24:])
	m.CKN = CKN(p[28:n:n])
	b = b[4+pad4(n):]

	var seen [256]bool
	for len(b) > ICVLen {
		if len(b) < 4 {
			return 0, malformed("%d octets left before the ICV: too short for a parameter set header", len(b)-ICVLen)
		}
		typ := b[0]
		n := int(binary.BigEndian.Uint16(b[2:]) & 0x0FFF)
		if typ == paramICVIndicator {
			// Its body is the ICV, which ends the MKPDU.
			if n != ICVLen || len(b) != 4+ICVLen {
				return 0, malformed("ICV Indicator: ICV length %d with %d octets left; only a final 16-octet ICV is supported", n, len(b)-4)
			}
			m.ICVIndicator = true
			return ICVLen, nil
		}
		if 4+pad4(n)+ICVLen > len(b) {
			return 0, malformed("parameter set %d: body length %d overruns the MKPDU", typ, n)
		}
		if seen[typ] {
			return 0, malformed("parameter set %d appears twice", typ)
		}
		seen[typ] = true
		if err := m.decodeParam(typ, b[1], b[2], b[4:4+n]); err != nil {
			return 0, err
		}
		b = b[4+pad4(n):]
	}
	if len(b) != ICVLen {
		return 0, malformed("%d octets left for the 16-octet ICV", len(b))
	}
	return ICVLen, nil
}

func (m *MKPDU) decodeParam(typ, specific, flags uint8, body []byte) error {
	switch typ {
	case paramLivePeerList, paramPotentialPeerList:
		if len(body)%peerEntryLen != 0 {
			return malformed("peer list body length %d is not a multiple of 16", len(body))
		}
		list := &m.PotentialPeers
		if typ == paramLivePeerList {
			list = &m.LivePeers
			m.KeyServerSSCI = specific
		}
		for ; len(body) > 0; body = body[peerEntryLen:] {
			*list = append(*list, Peer{MI: MI(body[:12]), MN: binary.BigEndian.Uint32(body[12:])})
		}
	case paramSAKUse:
		if len(body) != 0 && len(body) != sakUseLen {
			return malformed("MACsec SAK Use body length %d: want 0 or 40", len(body))
		}
		m.HasSAKUse = true
		u := &m.SAKUse
		u.LatestAN, u.LatestTx, u.LatestRx = specific>>6, specific&0x20 != 0, specific&0x10 != 0
		u.OldAN, u.OldTx, u.OldRx = specific>>2&0x03, specific&0x02 != 0, specific&0x01 != 0
		u.PlainTx, u.PlainRx, u.DelayProtect = flags&0x80 != 0, flags&0x40 != 0, flags&0x10 != 0
		if len(body) == sakUseLen {
			u.Latest = decodeKI(body)
			u.LatestLPN = binary.BigEndian.Uint32(body[16:])
			u.Old = decodeKI(body[20:])
			u.OldLPN = binary.BigEndian.Uint32(body[36:])
		}
	case paramDistributedSAK:
		d := &m.DistributedSAK
		m.HasDistributedSAK = true
		d.AN, d.ConfidentialityOffset = specific>>6, specific>>4&0x03
		switch {
		case len(body) == 0: // plain text: no SAK
		case len(body) == 4+macsec.GCMAES128.KeyLen()+8: // the default suite: no Cipher Suite field
			d.KN = binary.BigEndian.Uint32(body)
			d.CipherSuite = macsec.GCMAES128
			d.WrappedSAK = body[4:]
		case len(body) < 12:
			return malformed("Distributed SAK body length %d: want 0 (plain text), 28 (GCM-AES-128) or 12 + the wrapped SAK", len(body))
		default:
			d.KN = binary.BigEndian.Uint32(body)
			d.CipherSuite = macsec.CipherSuite(binary.BigEndian.Uint64(body[4:]))
			d.WrappedSAK = body[12:]
			switch d.CipherSuite {
			case 0:
				return malformed("Distributed SAK: cipher suite 0 is not a cipher suite")
			case macsec.GCMAES128:
				return malformed("Distributed SAK: the set for the default suite GCM-AES-128 has no Cipher Suite field (body length 28), got %d", len(body))
			}
			if err := checkDistributedSAK(d.CipherSuite, len(d.WrappedSAK)); err != nil {
				return malformed("%v", err)
			}
		}
	case paramAnnouncement:
		m.HasAnnouncement = true
		for len(body) > 0 {
			if len(body) < 2 {
				return malformed("Announcement: %d octets left for a TLV header", len(body))
			}
			t, l := body[0]>>1, int(binary.BigEndian.Uint16(body)&0x01FF)
			if 2+l > len(body) {
				return malformed("Announcement TLV %d: length %d overruns the parameter set", t, l)
			}
			if t == tlvMACsecCipherSuites {
				if l%cipherSuiteEntryLen != 0 || l/cipherSuiteEntryLen > maxAnnouncedSuites {
					return malformed("MACsec Cipher Suites TLV length %d: want a multiple of 10, at most %d entries", l, maxAnnouncedSuites)
				}
				for e := body[2 : 2+l]; len(e) > 0; e = e[cipherSuiteEntryLen:] {
					m.CipherSuites = append(m.CipherSuites, AnnouncedSuite{
						Capability: uint8(binary.BigEndian.Uint16(e) & 0x03),
						Suite:      macsec.CipherSuite(binary.BigEndian.Uint64(e[2:])),
					})
				}
			}
			body = body[2+l:]
		}
	case paramXPN:
		if len(body) != xpnLen {
			return malformed("XPN body length %d: want 8", len(body))
		}
		m.HasXPN = true
		m.XPN = XPN{SuspensionTime: specific, LatestLPNHigh: binary.BigEndian.Uint32(body), OldLPNHigh: binary.BigEndian.Uint32(body[4:])}
	default:
		// Distributed CAK and KMD have no use with a static CAK; unknown
		// types are skipped so later versions interoperate (802.1X 11.11.3).
	}
	return nil
}

func decodeKI(b []byte) KI { return KI{MI: MI(b[:12]), KN: binary.BigEndian.Uint32(b[12:])} }

// CheckICV reports whether icv is the AES-CMAC under ick of covered, as
// DecodeFrame returned them.
func CheckICV(covered, icv []byte, ick ICK) bool {
	mac, err := newCMAC(ick.Bytes())
	if err != nil {
		return false
	}
	return mac.check(covered, icv)
}

func (c *cmac) check(covered, icv []byte) bool {
	want := c.sum(covered)
	return subtle.ConstantTimeCompare(want[:], icv) == 1
}
