package mka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/secylab/secylab/macsec"
)

// AppendFrame appends m as a complete Ethernet frame from src to the PAE
// group address, with the ICV computed under ick, and returns the extended
// buffer. With enough capacity in dst it allocates only the CMAC state; the
// participant keeps that state and allocates nothing.
func (m *MKPDU) AppendFrame(dst []byte, src net.HardwareAddr, ick ICK) ([]byte, error) {
	if len(src) != 6 {
		return dst, fmt.Errorf("MKPDU: source address %v is not a 6-octet MAC", src)
	}
	mac, err := newCMAC(ick.Bytes())
	if err != nil {
		return dst, fmt.Errorf("MKPDU: ICK: %w", err)
	}
	return m.appendFrame(dst, [6]byte(src), mac)
}

func (m *MKPDU) appendFrame(dst []byte, src [6]byte, mac *cmac) ([]byte, error) {
	if err := m.check(); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, PAEGroupAddress[:]...)
	dst = append(dst, src[:]...)
	dst = binary.BigEndian.AppendUint16(dst, EtherTypeEAPOL)
	dst = append(dst, EAPOLVersion, EAPOLTypeMKA, 0, 0) // body length below
	body := len(dst)
	dst = m.appendBody(dst)
	binary.BigEndian.PutUint16(dst[body-2:], uint16(len(dst)-body+ICVLen))
	icv := mac.sum(dst[start:])
	return append(dst, icv[:]...), nil
}

// maxBody keeps the EAPOL body within a standard Ethernet payload.
const maxBody = 1500 - eapolHeaderLen

func (m *MKPDU) check() error {
	switch {
	case len(m.CKN) < MinCKNLen || len(m.CKN) > MaxCKNLen:
		return fmt.Errorf("MKPDU: CKN must be 1 to 32 octets, got %d", len(m.CKN))
	case m.MACsecCapability > 3:
		return fmt.Errorf("MKPDU: MACsec capability %d: must be 0..3", m.MACsecCapability)
	case m.HasSAKUse && (m.SAKUse.LatestAN > 3 || m.SAKUse.OldAN > 3):
		return errors.New("MKPDU: SAK Use AN must be 0..3")
	case m.HasDistributedSAK && (m.DistributedSAK.AN > 3 || m.DistributedSAK.ConfidentialityOffset > 3):
		return errors.New("MKPDU: Distributed SAK AN and confidentiality offset must be 0..3")
	case m.HasDistributedSAK && !m.DistributedSAK.plainText():
		if err := checkDistributedSAK(m.DistributedSAK.suite(), len(m.DistributedSAK.WrappedSAK)); err != nil {
			return fmt.Errorf("MKPDU: %w", err)
		}
	case len(m.CipherSuites) > maxAnnouncedSuites:
		return fmt.Errorf("MKPDU: at most %d announced cipher suites", maxAnnouncedSuites)
	}
	n := 4 + pad4(basicBodyMin+len(m.CKN)) + 2*4 + peerEntryLen*(len(m.LivePeers)+len(m.PotentialPeers)) +
		4 + sakUseLen + 4 + 12 + 40 + 4 + 2 + cipherSuiteEntryLen*len(m.CipherSuites) + 4 + xpnLen + 4 + ICVLen
	if n > maxBody {
		return fmt.Errorf("MKPDU: %d peers do not fit in one MKPDU", len(m.LivePeers)+len(m.PotentialPeers))
	}
	return nil
}

func pad4(n int) int { return (n + 3) &^ 3 }

// appendHeader appends a parameter set header: type, type-specific octet,
// and the 12-bit body length with the high 4 bits of its octet in flags.
func appendHeader(b []byte, typ, specific, flags uint8, bodyLen int) []byte {
	return append(b, typ, specific, flags&0xF0|uint8(bodyLen>>8)&0x0F, uint8(bodyLen))
}

func appendPad(b []byte, n int) []byte {
	for ; n%4 != 0; n++ {
		b = append(b, 0)
	}
	return b
}

func boolBit(v bool, bit uint8) uint8 {
	if v {
		return bit
	}
	return 0
}

// appendBody appends the parameter sets, Basic first and the others in
// ascending type order (802.1X-2020 11.11.3 lets receivers take any order).
func (m *MKPDU) appendBody(b []byte) []byte {
	version := m.Version
	if version == 0 {
		version = MKAVersion
	}
	flags := boolBit(m.KeyServer, 0x80) | boolBit(m.MACsecDesired, 0x40) | m.MACsecCapability<<4
	n := basicBodyMin + len(m.CKN)
	b = append(b, version, m.KeyServerPriority, flags|uint8(n>>8)&0x0F, uint8(n))
	b = binary.BigEndian.AppendUint64(b, uint64(m.SCI))
	b = append(b, m.MI[:]...)
	b = binary.BigEndian.AppendUint32(b, m.MN)
	agility := m.AlgorithmAgility
	if agility == 0 {
		agility = AlgorithmAgility
	}
	b = binary.BigEndian.AppendUint32(b, agility)
	b = append(b, m.CKN...)
	b = appendPad(b, n)

	if len(m.LivePeers) > 0 {
		b = appendPeers(b, paramLivePeerList, m.KeyServerSSCI, m.LivePeers)
	}
	if len(m.PotentialPeers) > 0 {
		b = appendPeers(b, paramPotentialPeerList, 0, m.PotentialPeers)
	}
	if m.HasSAKUse {
		u := &m.SAKUse
		b = appendHeader(b, paramSAKUse,
			u.LatestAN<<6|boolBit(u.LatestTx, 0x20)|boolBit(u.LatestRx, 0x10)|u.OldAN<<2|boolBit(u.OldTx, 0x02)|boolBit(u.OldRx, 0x01),
			boolBit(u.PlainTx, 0x80)|boolBit(u.PlainRx, 0x40)|boolBit(u.DelayProtect, 0x10), sakUseLen)
		b = appendKI(b, u.Latest)
		b = binary.BigEndian.AppendUint32(b, u.LatestLPN)
		b = appendKI(b, u.Old)
		b = binary.BigEndian.AppendUint32(b, u.OldLPN)
	}
	if m.HasDistributedSAK {
		d := &m.DistributedSAK
		specific := d.AN<<6 | d.ConfidentialityOffset<<4
		switch {
		case d.plainText():
			b = appendHeader(b, paramDistributedSAK, specific, 0, 0)
		case d.suite() == macsec.GCMAES128:
			b = appendHeader(b, paramDistributedSAK, specific, 0, 4+len(d.WrappedSAK))
			b = binary.BigEndian.AppendUint32(b, d.KN)
			b = append(b, d.WrappedSAK...)
		default:
			b = appendHeader(b, paramDistributedSAK, specific, 0, 12+len(d.WrappedSAK))
			b = binary.BigEndian.AppendUint32(b, d.KN)
			b = binary.BigEndian.AppendUint64(b, uint64(d.CipherSuite))
			b = append(b, d.WrappedSAK...)
		}
	}
	if m.HasAnnouncement {
		n := 2 + cipherSuiteEntryLen*len(m.CipherSuites)
		b = appendHeader(b, paramAnnouncement, 0, 0, n)
		tl := cipherSuiteEntryLen * len(m.CipherSuites)
		b = append(b, tlvMACsecCipherSuites<<1|uint8(tl>>8)&0x01, uint8(tl))
		for _, s := range m.CipherSuites {
			b = binary.BigEndian.AppendUint16(b, uint16(s.Capability&0x03))
			b = binary.BigEndian.AppendUint64(b, uint64(s.Suite))
		}
		b = appendPad(b, n)
	}
	if m.HasXPN {
		b = appendHeader(b, paramXPN, m.XPN.SuspensionTime, 0, xpnLen)
		b = binary.BigEndian.AppendUint32(b, m.XPN.LatestLPNHigh)
		b = binary.BigEndian.AppendUint32(b, m.XPN.OldLPNHigh)
	}
	if m.ICVIndicator {
		// The ICV itself is the body of the ICV Indicator (802.1X-2020 11.11.1).
		b = appendHeader(b, paramICVIndicator, 0, 0, ICVLen)
	}
	return b
}

func appendPeers(b []byte, typ, specific uint8, peers []Peer) []byte {
	b = appendHeader(b, typ, specific, 0, peerEntryLen*len(peers))
	for _, p := range peers {
		b = append(b, p.MI[:]...)
		b = binary.BigEndian.AppendUint32(b, p.MN)
	}
	return b
}

func appendKI(b []byte, ki KI) []byte {
	b = append(b, ki.MI[:]...)
	return binary.BigEndian.AppendUint32(b, ki.KN)
}
