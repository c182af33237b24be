package mka

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

// TestDistributedSAKEncodeDecodeAgree: the encoder emits exactly the
// Distributed SAK parameter sets the decoder accepts (802.1X-2020 11.11.1):
// the wrapped key is the suite's key length + 8 octets, and the Cipher Suite
// field is present exactly when the suite is not the default GCM-AES-128.
// FuzzDecodeMKPDU found a GCM-AES-128 set with a 40-octet wrapped key that
// the encoder emitted and its own decoder refused.
func TestDistributedSAKEncodeDecodeAgree(t *testing.T) {
	ick := testICK(t)
	suites := []macsec.CipherSuite{0, macsec.GCMAES128, macsec.GCMAES256, macsec.GCMAESXPN128, macsec.GCMAESXPN256}
	for _, suite := range suites {
		for _, kn := range []uint32{0, 1} {
			for _, n := range []int{0, 16, 24, 32, 40, 48} {
				d := DistributedSAK{AN: 1, KN: kn, CipherSuite: suite, WrappedSAK: bytes.Repeat([]byte{0xA5}, n)}
				m := &MKPDU{SCI: 1, MI: MI{1}, MN: 1, CKN: CKN{1}, HasDistributedSAK: true, DistributedSAK: d}
				frame, encErr := m.AppendFrame(nil, testMAC, ick)
				want := suite
				if want == 0 {
					want = macsec.GCMAES128
				}
				valid := (kn == 0 && n == 0) || n == want.KeyLen()+8
				assert.Equal(t, valid, encErr == nil, "encode %s KN %d wrapped %d: %v", want, kn, n, encErr)
				if encErr != nil {
					continue
				}
				var got MKPDU
				_, _, err := DecodeFrame(frame, &got)
				require.NoError(t, err, "the decoder refuses what the encoder emitted: %s KN %d wrapped %d", want, kn, n)
				if n == 0 {
					assert.Empty(t, got.DistributedSAK.WrappedSAK)
					continue
				}
				assert.Equal(t, want, got.DistributedSAK.CipherSuite)
				assert.Equal(t, kn, got.DistributedSAK.KN)
				assert.Equal(t, d.WrappedSAK, got.DistributedSAK.WrappedSAK)
			}
		}
	}
}

// TestDistributedSAKDecodeRules: the decoder refuses a set whose wrapped
// key does not fit its cipher suite, and the long form for the default
// suite (which has the short form).
func TestDistributedSAKDecodeRules(t *testing.T) {
	long := func(suite macsec.CipherSuite, wrapped int) []byte {
		b := binary.BigEndian.AppendUint32(nil, 1)
		b = binary.BigEndian.AppendUint64(b, uint64(suite))
		return append(b, make([]byte, wrapped)...)
	}
	short := func(wrapped int) []byte {
		return append(binary.BigEndian.AppendUint32(nil, 1), make([]byte, wrapped)...)
	}
	for name, tc := range map[string]struct {
		body []byte
		ok   bool
	}{
		"plain text":                      {nil, true},
		"GCM-AES-128 short":               {short(24), true},
		"GCM-AES-128 short, 40":           {short(40), false},
		"GCM-AES-128 long":                {long(macsec.GCMAES128, 24), false},
		"GCM-AES-256 long":                {long(macsec.GCMAES256, 40), true},
		"GCM-AES-256 long, 128-bit key":   {long(macsec.GCMAES256, 24), false},
		"GCM-AES-XPN-128 long":            {long(macsec.GCMAESXPN128, 24), true},
		"GCM-AES-XPN-128 long, 256 key":   {long(macsec.GCMAESXPN128, 40), false},
		"GCM-AES-XPN-256 long":            {long(macsec.GCMAESXPN256, 40), true},
		"GCM-AES-XPN-256 long, 128 key":   {long(macsec.GCMAESXPN256, 24), false},
		"unknown suite, 128-bit key size": {long(0x0080C20001000009, 24), true},
		"unknown suite, odd size":         {long(0x0080C20001000009, 32), false},
		"KN only":                         {short(0), false},
		"suite 0, long":                   {long(0, 24), false},
	} {
		t.Run(name, func(t *testing.T) {
			frame := frameWithDistributedSAK(t, tc.body)
			var m MKPDU
			_, _, err := DecodeFrame(frame, &m)
			if !tc.ok {
				assert.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			// What the decoder accepts, the encoder emits again, octet for octet.
			re, err := m.AppendFrame(nil, testMAC, testICK(t))
			require.NoError(t, err)
			assert.Equal(t, frame, re)
		})
	}
}

// frameWithDistributedSAK is a hello MKPDU with a Distributed SAK parameter
// set of the given body (AN 0), signed with testICK.
func frameWithDistributedSAK(t *testing.T, body []byte) []byte {
	hello := &MKPDU{SCI: 1, MI: MI{1}, MN: 1, CKN: CKN{1}}
	frame, err := hello.AppendFrame(nil, testMAC, testICK(t))
	require.NoError(t, err)
	head, sets, _ := paramSets(t, frame)
	b := append([]byte(nil), head...)
	for _, s := range sets {
		b = append(b, s...)
	}
	b = append(b, paramDistributedSAK, 0, byte(len(body)>>8)&0x0F, byte(len(body)))
	b = append(b, body...)
	for (len(b)-frameHeaderLen)%4 != 0 {
		b = append(b, 0)
	}
	binary.BigEndian.PutUint16(b[16:], uint16(len(b)-frameHeaderLen+ICVLen))
	mac, err := newCMAC(testICK(t).Bytes())
	require.NoError(t, err)
	icv := mac.sum(b)
	return append(b, icv[:]...)
}
