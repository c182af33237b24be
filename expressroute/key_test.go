package expressroute

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

// TestKeyRule is Azure's CAK/CKN rule (lab-anchors §1.2), the one every
// reader of a key applies.
func TestKeyRule(t *testing.T) {
	ckn := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, ckn, cak string
		suite          macsec.CipherSuite
		want           string // the CAK in hex, padded
		padded         int    // trailing zeros Azure added
		err            string
	}{
		{name: "128 full", ckn: ckn, cak: "0123456789abcdef0123456789ABCDEF", suite: macsec.GCMAES128, want: "0123456789abcdef0123456789abcdef"},
		{name: "256 full", ckn: "0a", cak: strings.Repeat("12", 32), suite: macsec.GCMAESXPN256, want: strings.Repeat("12", 32)},
		{name: "32 digits for XPN-256", ckn: ckn, cak: strings.Repeat("12", 16), suite: macsec.GCMAESXPN256, want: strings.Repeat("12", 16) + strings.Repeat("0", 32), padded: 32},
		{name: "32 digits for 256", ckn: ckn, cak: strings.Repeat("12", 16), suite: macsec.GCMAES256, want: strings.Repeat("12", 16) + strings.Repeat("0", 32), padded: 32},
		{name: "Azure's example", ckn: ckn, cak: "1234", suite: macsec.GCMAES128, want: "1234" + strings.Repeat("0", 28), padded: 28},
		{name: "64 digits for 128", ckn: ckn, cak: strings.Repeat("12", 32), suite: macsec.GCMAESXPN128, err: "CAK: 64 hex digits: GcmAesXpn128 takes 32"},
		{name: "odd CAK", ckn: ckn, cak: "123", suite: macsec.GCMAES128, err: "CAK: odd number of hex digits (3)"},
		{name: "zero CAK", ckn: ckn, cak: strings.Repeat("0", 32), suite: macsec.GCMAES128, err: "CAK: all zeros: not a key"},
		{name: "zero short CAK", ckn: ckn, cak: "00", suite: macsec.GCMAES256, err: "CAK: all zeros"},
		{name: "empty CAK", ckn: ckn, cak: "", suite: macsec.GCMAES128, err: "CAK: empty"},
		{name: "not hex", ckn: ckn, cak: "12zz", suite: macsec.GCMAES128, err: "CAK: must be hex digits (0-9, a-f): character 3 is not"},
		{name: "odd CKN", ckn: "abc", cak: "12", suite: macsec.GCMAES128, err: "CKN: odd number of hex digits (3)"},
		{name: "long CKN", ckn: strings.Repeat("a", 66), cak: "12", suite: macsec.GCMAES128, err: "CKN: 66 hex digits: at most 64"},
		{name: "empty CKN", ckn: " ", cak: "12", suite: macsec.GCMAES128, err: "CKN: empty"},
		{name: "unknown suite", ckn: ckn, cak: "12", suite: 7, err: "unknown cipher suite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKey(tc.ckn, []byte(tc.cak), tc.suite)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				if len(tc.cak) > 2 {
					assert.NotContains(t, err.Error(), tc.cak, "an error never quotes the key")
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, fmt.Sprintf("%x", k.CAK.Bytes()))
			assert.Equal(t, tc.padded > 0, k.Padded())
			if tc.padded > 0 {
				assert.Contains(t, k.Notice(), fmt.Sprintf("padded with %d trailing zeros, as Azure does", tc.padded))
			} else {
				assert.Empty(t, k.Notice())
			}
		})
	}
}

func TestKeyForSuite(t *testing.T) {
	k, err := ParseKey("ab", []byte(strings.Repeat("12", 16)), macsec.GCMAES128)
	require.NoError(t, err)
	require.False(t, k.Padded())
	// Azure reads the same 32-digit secret for a 256-bit cipher: padded.
	k256, err := k.ForSuite(macsec.GCMAESXPN256)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("12", 16)+strings.Repeat("0", 32), fmt.Sprintf("%x", k256.CAK.Bytes()))
	assert.True(t, k256.Padded())
	assert.Contains(t, k256.Notice(), "CAK: 32 hex digits; GcmAesXpn256 takes 64: padded with 32 trailing zeros")
	// And back: the secret as given fits the 128-bit cipher again.
	k128, err := k256.ForSuite(macsec.GCMAESXPN128)
	require.NoError(t, err)
	assert.True(t, k128.CAK.Equal(k.CAK))
	assert.False(t, k128.Padded())

	full, err := ParseKey("ab", []byte(strings.Repeat("12", 32)), macsec.GCMAES256)
	require.NoError(t, err)
	_, err = full.ForSuite(macsec.GCMAES128)
	require.ErrorContains(t, err, "CAK: 64 hex digits: GcmAes128 takes 32")
}

func TestKeyFile(t *testing.T) {
	psk, err := mka.GeneratePSK(bytes.NewReader(bytes.Repeat([]byte{7}, 64)), macsec.GCMAESXPN256)
	require.NoError(t, err)
	var file bytes.Buffer
	require.NoError(t, WriteKeyFile(&file, psk))
	assert.Contains(t, file.String(), "CAK="+strings.Repeat("07", 32)+"\n")
	got, err := ParseKeyFile(file.Bytes(), macsec.GCMAESXPN256)
	require.NoError(t, err)
	assert.True(t, got.CKN.Equal(psk.CKN))
	assert.True(t, got.CAK.Equal(psk.CAK))

	got, err = ParseKeyFile([]byte("# padded\nckn = 0a0b\ncak=1234\n"), macsec.GCMAES128)
	require.NoError(t, err)
	assert.Equal(t, "0A0B", got.CKN.String())
	assert.Equal(t, "12340000000000000000000000000000", fmt.Sprintf("%X", got.CAK.Bytes()))

	for in, want := range map[string]string{
		"CKN=0A\n":                 "want both a CKN= and a CAK= line",
		"CKN=0A\nCKN=0B\nCAK=11\n": "line 2: CKN given twice",
		"KEY1234=0A\n":             "line 1: unknown name: want CKN= or CAK=",
		"CKN=0A\nCAK=xyz\n":        "CAK: must be hex digits (0-9, a-f): character 1 is not",
		"CKN 0A\n":                 "line 1: want NAME=VALUE",
	} {
		_, err := ParseKeyFile([]byte(in), macsec.GCMAES128)
		assert.ErrorContains(t, err, want, in)
		assert.NotContains(t, err.Error(), "1234")
	}
}

// TestKeyNeverPrinted: a Key prints as its CKN and a CAK fingerprint.
func TestKeyNeverPrinted(t *testing.T) {
	k, err := ParseKey("ab", []byte(strings.Repeat("5c", 16)), macsec.GCMAESXPN256)
	require.NoError(t, err)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		out := fmt.Sprintf(verb, k)
		assert.NotContains(t, strings.ToLower(out), "5c5c5c5c", verb)
		assert.Contains(t, out, k.CAK.Fingerprint(), verb)
	}
}
