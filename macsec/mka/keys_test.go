package mka

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

func TestParseCKN(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "ab", want: "AB"},
		{in: "  00112233  ", want: "00112233"},
		{in: strings.Repeat("f", 64), want: strings.Repeat("F", 64)},
		{in: "", err: "CKN: must be 2 to 64 hex digits, got 0"},
		{in: "abc", err: "CKN: must have an even number of hex digits, got 3"},
		{in: strings.Repeat("0", 66), err: "CKN: must be 2 to 64 hex digits, got 66"},
		{in: "abzz", err: "CKN: must be hex digits (0-9, a-f), got 'z' at position 3"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCKN(tc.in)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.String())
		})
	}
}

func TestParseCAK(t *testing.T) {
	for _, tc := range []struct {
		in    string
		suite macsec.CipherSuite
		want  string
		err   string
	}{
		{in: "0123456789abcdef0123456789ABCDEF", suite: macsec.GCMAES128, want: "0123456789abcdef0123456789abcdef"},
		{in: "12", suite: macsec.GCMAESXPN128, want: "12" + strings.Repeat("0", 30)},
		{in: "abc", suite: macsec.GCMAES256, want: "abc" + strings.Repeat("0", 61)},
		{in: strings.Repeat("1", 64), suite: macsec.GCMAESXPN256, want: strings.Repeat("1", 64)},
		{in: strings.Repeat("1", 33), suite: macsec.GCMAES128, err: "CAK: must be at most 32 hex digits for a 128-bit cipher suite, got 33 (GCM-AES-128)"},
		{in: "", suite: macsec.GCMAES128, err: "CAK: must not be empty (up to 32 hex digits) (GCM-AES-128)"},
		{in: "12zz", suite: macsec.GCMAES128, err: "CAK: must be hex digits (0-9, a-f), got 'z' at position 3 (GCM-AES-128)"},
		{in: "12", suite: 7, err: "CAK: unknown cipher suite 0x0000000000000007"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCAK(tc.in, tc.suite)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, fmt.Sprintf("%x", got.Bytes()))
		})
	}
}

// TestSecretsNeverPrinted formats keys every way a log line could and
// checks that only the fingerprint comes out.
func TestSecretsNeverPrinted(t *testing.T) {
	raw := bytes.Repeat([]byte{0xAB}, 16)
	cak, err := NewCAK(raw)
	require.NoError(t, err)
	ick, err := DeriveICK(cak, CKN{1})
	require.NoError(t, err)
	kek, err := DeriveKEK(cak, CKN{1})
	require.NoError(t, err)
	sak, err := NewSAK(bytes.Repeat([]byte{0xCD}, 16))
	require.NoError(t, err)
	psk := PSK{CKN: CKN{1, 2}, CAK: cak}

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, v := range []any{cak, &cak, ick, kek, sak, psk} {
		log.Info("key", "k", v)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			out := fmt.Sprintf(verb, v)
			for _, key := range [][]byte{cak.Bytes(), ick.Bytes(), kek.Bytes(), sak.Bytes()} {
				assert.NotContains(t, strings.ToLower(out), fmt.Sprintf("%x", key[:4]), "verb %s printed key material: %s", verb, out)
			}
			assert.Contains(t, out, "fp:", "verb %s: %s", verb, out)
		}
	}
	for _, key := range [][]byte{cak.Bytes(), ick.Bytes(), kek.Bytes(), sak.Bytes()} {
		assert.NotContains(t, strings.ToLower(logs.String()), fmt.Sprintf("%x", key[:4]))
	}
	assert.Equal(t, "CAK(fp:"+cak.Fingerprint()+")", cak.String())
	assert.Len(t, cak.Fingerprint(), 8)
	assert.NotEqual(t, cak.Fingerprint(), ick.Fingerprint(), "labels separate the fingerprints")
}

func TestZero(t *testing.T) {
	cak, err := NewCAK(bytes.Repeat([]byte{1}, 32))
	require.NoError(t, err)
	cp := cak
	cak.Zero()
	assert.True(t, cp.IsZero(), "copies share the key and are zeroed too")
	psk := PSK{CAK: cp}
	psk.Zero()
	assert.True(t, psk.CAK.IsZero())
}

func TestKeyFile(t *testing.T) {
	psk, err := GeneratePSK(newTestRand(7), macsec.GCMAESXPN256)
	require.NoError(t, err)
	var file bytes.Buffer
	require.NoError(t, WritePSK(&file, psk))

	fsys := fstest.MapFS{
		"ok":       {Data: file.Bytes(), Mode: 0o600},
		"ro":       {Data: file.Bytes(), Mode: 0o400},
		"group":    {Data: file.Bytes(), Mode: 0o640},
		"world":    {Data: file.Bytes(), Mode: 0o604},
		"short":    {Data: []byte("# padded\nckn = 0a0b\ncak=1234\n"), Mode: 0o600},
		"missing":  {Data: []byte("CKN=0A\n"), Mode: 0o600},
		"twice":    {Data: []byte("CKN=0A\nCKN=0B\nCAK=11\n"), Mode: 0o600},
		"unknown":  {Data: []byte("KEY=0A\n"), Mode: 0o600},
		"badvalue": {Data: []byte("CKN=0A\nCAK=xyz\n"), Mode: 0o600},
	}
	for _, name := range []string{"ok", "ro"} {
		got, err := ReadPSKFile(fsys, name, macsec.GCMAESXPN256)
		require.NoError(t, err, name)
		assert.True(t, got.CKN.Equal(psk.CKN))
		assert.True(t, got.CAK.Equal(psk.CAK))
	}
	got, err := ReadPSKFile(fsys, "short", macsec.GCMAES128)
	require.NoError(t, err)
	assert.Equal(t, "0A0B", got.CKN.String())
	assert.Equal(t, "12340000000000000000000000000000", fmt.Sprintf("%X", got.CAK.Bytes()))

	for name, want := range map[string]string{
		"group":    "key file group: mode 0640 lets group or others access it; must be 0600 or stricter (chmod 600 group)",
		"world":    "key file world: mode 0604 lets group or others access it; must be 0600 or stricter (chmod 600 world)",
		"missing":  "key file missing: want both a CKN= and a CAK= line",
		"twice":    "key file twice: line 2: CKN given twice",
		"unknown":  `key file unknown: line 1: unknown name "KEY"; want CKN or CAK`,
		"badvalue": "key file badvalue: CAK: must be hex digits (0-9, a-f), got 'x' at position 1 (GCM-AES-128)",
	} {
		_, err := ReadPSKFile(fsys, name, macsec.GCMAES128)
		assert.EqualError(t, err, want, name)
	}
	_, err = ReadPSKFile(fsys, "nope", macsec.GCMAES128)
	assert.Error(t, err)
}

func TestLoadPSKFileOS(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/psk"
	require.NoError(t, writeFile(path, []byte("CKN=01\nCAK=02\n"), 0o644))
	_, err := LoadPSKFile(path, macsec.GCMAES128)
	require.ErrorContains(t, err, "must be 0600 or stricter")
	require.NoError(t, chmod(path, 0o600))
	k, err := LoadPSKFile(path, macsec.GCMAES128)
	require.NoError(t, err)
	assert.Equal(t, "01", k.CKN.String())
}

func TestPSKFromEnv(t *testing.T) {
	env := map[string]string{"CKN": "abcd", "CAK": "0f"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	k, err := PSKFromEnv(lookup, "CKN", "CAK", macsec.GCMAES256)
	require.NoError(t, err)
	assert.Equal(t, 32, k.CAK.Len())
	_, err = PSKFromEnv(lookup, "NOPE", "CAK", macsec.GCMAES256)
	assert.EqualError(t, err, "environment: NOPE is not set (want the CKN)")
	env["CKN"] = "abc"
	_, err = PSKFromEnv(lookup, "CKN", "CAK", macsec.GCMAES256)
	assert.EqualError(t, err, "environment CKN/CAK: CKN: must have an even number of hex digits, got 3")
}
