package mka

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/secylab/secylab/macsec"
)

// FuzzDecodeMKPDU feeds arbitrary frames to the decoder: it must never
// panic, and whatever it accepts must re-encode to a frame that decodes to
// the same MKPDU.
func FuzzDecodeMKPDU(f *testing.F) {
	ick := testICK(f)
	for _, m := range []*MKPDU{
		fullMKPDU(),
		{SCI: 1, MI: MI{1}, MN: 1, CKN: CKN{1}},
		{SCI: 2, MI: MI{2}, MN: 2, CKN: CKN{1, 2}, HasDistributedSAK: true, DistributedSAK: DistributedSAK{KN: 1, WrappedSAK: make([]byte, 24)}},
	} {
		frame, err := m.AppendFrame(nil, testMAC, ick)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame)
	}
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xFF}, 64))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var m MKPDU
		covered, icv, err := DecodeFrame(frame, &m)
		if err != nil {
			return
		}
		if len(icv) != ICVLen || len(covered)+ICVLen > len(frame) {
			t.Fatalf("covered %d + ICV %d octets of a %d-octet frame", len(covered), len(icv), len(frame))
		}
		_ = CheckICV(covered, icv, ick)
		if len(m.CKN) == 0 || m.MACsecCapability > 3 {
			t.Fatalf("accepted an MKPDU the encoder refuses: %+v", m)
		}
		re, err := m.AppendFrame(nil, testMAC, ick)
		if err != nil {
			// The decoder and the encoder enforce the same rules; the encoder
			// alone bounds the MKPDU to one standard frame.
			if !strings.Contains(err.Error(), "do not fit in one MKPDU") {
				t.Fatalf("the encoder refuses an MKPDU the decoder accepted: %v\n%+v", err, m)
			}
			return
		}
		var m2 MKPDU
		if _, _, err := DecodeFrame(re, &m2); err != nil {
			t.Fatalf("re-encoded MKPDU does not decode: %v", err)
		}
		normalize(&m)
		normalize(&m2)
		m.ICVIndicator, m2.ICVIndicator = false, false
		if m.AlgorithmAgility == 0 {
			m.AlgorithmAgility = AlgorithmAgility // the encoder's default
		}
		if len(m.LivePeers) == 0 {
			m.KeyServerSSCI = 0 // carried by the Live Peer List only
		}
		if !reflect.DeepEqual(&m, &m2) {
			t.Fatalf("round trip changed the MKPDU:\n%+v\n%+v", m, m2)
		}
	})
}

// FuzzReceive signs arbitrary MKPDU bodies with the right ICK, as a member
// that holds the CAK could, and feeds them to a participant whose channel
// is up: whatever they say, the participant must not panic.
func FuzzReceive(f *testing.F) {
	suite := macsec.GCMAESXPN128
	psk := testPSK(f, cknHex, cak128, suite)
	for _, m := range []*MKPDU{fullMKPDU(), {SCI: 1, MI: MI{1}, MN: 1, CKN: psk.CKN}} {
		m.CKN = psk.CKN
		frame, err := m.AppendFrame(nil, testMAC, testICK(f))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame[frameHeaderLen : len(frame)-ICVLen])
	}
	ick, err := DeriveICK(psk.CAK, psk.CKN)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1400 {
			return
		}
		o := nodeOpts{psk: psk, priority: 16}
		l := newLab(t, suite, o, o)
		l.advance(20*time.Millisecond, 0, nil)
		if !l.up() {
			t.Fatal("channel not up")
		}
		frame := append([]byte{}, PAEGroupAddress[:]...)
		frame = append(frame, testMAC...)
		frame = append(frame, 0x88, 0x8E, EAPOLVersion, EAPOLTypeMKA, 0, 0)
		frame = append(frame, body...)
		binary.BigEndian.PutUint16(frame[16:], uint16(len(body)+ICVLen))
		mac, _ := newCMAC(ick.Bytes())
		icv := mac.sum(frame)
		frame = append(frame, icv[:]...)
		l.b.p.Receive(l.now, frame)
		l.advance(10*time.Millisecond, 0, nil)
	})
}
