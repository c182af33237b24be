package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/fingerprint"
)

func TestKeyGenCheckDerive(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "link1.psk")

	out, errOut, status := runBin(t, nil, "key", "gen", "--cipher", "GcmAesXpn256", "--out", file)
	require.Zero(t, status, errOut)
	fi, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var ckn, cak string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CKN="); ok {
			ckn = v
		}
		if v, ok := strings.CutPrefix(line, "CAK="); ok {
			cak = v
		}
	}
	require.Len(t, ckn, 64, "CKN: 64 hex digits")
	require.Len(t, cak, 64, "CAK: 64 hex digits for a -256 suite")
	require.NotContains(t, out, cak, "the CAK is never printed")

	_, errOut, status = runBin(t, nil, "key", "gen", "--cipher", "GcmAesXpn256", "--out", file)
	require.Equal(t, 2, status)
	require.Contains(t, errOut, "exists")

	out, errOut, status = runBin(t, nil, "key", "check", file, "--cipher", "GcmAesXpn256")
	require.Zero(t, status, errOut)
	require.Contains(t, out, "valid for GcmAesXpn256")
	require.NotContains(t, out, cak)

	// A 256-bit CAK is too long for a -128 suite.
	_, errOut, status = runBin(t, nil, "key", "check", file, "--cipher", "GcmAes128")
	require.Equal(t, 2, status)
	require.Contains(t, errOut, "CAK")
	require.NotContains(t, errOut, cak)

	require.NoError(t, os.Chmod(file, 0o644))
	_, errOut, status = runBin(t, nil, "key", "check", file, "--cipher", "GcmAesXpn256")
	require.Equal(t, 2, status)
	require.Contains(t, errOut, "0600")
	require.NoError(t, os.Chmod(file, 0o600))

	out, errOut, status = runBin(t, nil, "mka", "derive", "--cipher", "GcmAesXpn256", "--key-file", file)
	require.Zero(t, status, errOut)
	require.Contains(t, out, "ICK fingerprint")
	require.Contains(t, out, "KEK fingerprint")
	require.NotRegexp(t, `[0-9a-f]{32}`, out, "no key is ever printed")
	_, _, status = runBin(t, nil, "mka", "derive", "--cipher", "GcmAesXpn256", "--key-file", file, "--show-secrets")
	require.Equal(t, 2, status, "--show-secrets is gone: keys are never printed")

	_, errOut, status = runBin(t, nil, "key", "gen", "--cipher", "GcmAes512", "--out", filepath.Join(dir, "x"))
	require.Equal(t, 2, status)
	require.Contains(t, errOut, "--cipher")
}

// The ICK and KEK derive as the 802.1X KDF vectors say (MKAdaemon's Annex G
// cases ICK_ANNEX_G_5_1 and KEK_ANNEX_G_4_1): their fingerprints are those
// of the vectors' keys.
func TestMKADeriveVector(t *testing.T) {
	file := filepath.Join(t.TempDir(), "v.psk")
	require.NoError(t, os.WriteFile(file, []byte("CKN=96437A93CCF10D9DFE347846CCE52C7D\nCAK=135BD758B0EE5C11C55FF6AB19FDB199\n"), 0o600))
	out, errOut, status := runBin(t, nil, "mka", "derive", "--cipher", "GcmAes128", "--key-file", file)
	require.Zero(t, status, errOut)
	fp := func(kind fingerprint.Kind, key string) string {
		b, err := hex.DecodeString(key)
		require.NoError(t, err)
		return fingerprint.Of(kind, b)
	}
	require.Contains(t, out, "ICK fingerprint "+fp(fingerprint.ICK, "8f1c5cb1c8ed2e5f047906e0473aad4d"))
	require.Contains(t, out, "KEK fingerprint "+fp(fingerprint.KEK, "8f5a384c15d6ae9302b462e363d03ca6"))
}

// TestKeyCheckAzureRule: key check applies Azure's rule, the same as
// topology validation and the lab: a 32-digit CAK for a 256-bit cipher is
// padded with a notice; odd-length and all-zero CAKs, a directory and a
// missing file are refused with status 2. --json speaks camelCase and
// carries fingerprints only.
func TestKeyCheckAzureRule(t *testing.T) {
	dir := t.TempDir()
	ckn := strings.Repeat("ab", 32)
	short := strings.Repeat("12", 16)
	key := func(name, cak string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("CKN="+ckn+"\nCAK="+cak+"\n"), 0o600))
		return p
	}
	file := key("short.psk", short)
	out, errOut, status := runBin(t, nil, "key", "check", file, "--cipher", "GcmAesXpn256")
	require.Zero(t, status, errOut)
	require.Contains(t, out, "valid for GcmAesXpn256")
	require.Contains(t, out, "CAK: 32 hex digits; GcmAesXpn256 takes 64: padded with 32 trailing zeros, as Azure does")
	require.NotContains(t, out+errOut, short)

	out, errOut, status = runBin(t, nil, "key", "check", file, "--cipher", "GcmAesXpn256", "--json")
	require.Zero(t, status, errOut)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Equal(t, true, got["valid"])
	require.Equal(t, "GcmAesXpn256", got["cipher"])
	require.Equal(t, strings.ToUpper(ckn), got["ckn"])
	require.Equal(t, float64(32), got["cakDigits"])
	require.Equal(t, float64(256), got["cakBits"])
	require.Equal(t, true, got["padded"])
	require.Contains(t, got["notice"], "padded with 32 trailing zeros")
	require.Len(t, got["cakFingerprint"], 8)
	require.NotContains(t, out, short)

	for name, tc := range map[string]struct{ file, want string }{
		"odd":       {key("odd.psk", strings.Repeat("1", 31)), "odd number of hex digits (31)"},
		"zero":      {key("zero.psk", strings.Repeat("0", 32)), "all zeros"},
		"directory": {dir, "is a directory"},
		"missing":   {filepath.Join(dir, "nope.psk"), "does not exist"},
	} {
		t.Run(name, func(t *testing.T) {
			_, errOut, status := runBin(t, nil, "key", "check", tc.file, "--cipher", "GcmAes128")
			require.Equal(t, 2, status, errOut)
			require.Contains(t, errOut, tc.want)
			out, _, status := runBin(t, nil, "key", "check", tc.file, "--cipher", "GcmAes128", "--json")
			require.Equal(t, 2, status)
			var got map[string]any
			require.NoError(t, json.Unmarshal([]byte(out), &got), out)
			require.Equal(t, false, got["valid"])
			require.Contains(t, got["error"], tc.want)
		})
	}

	out, errOut, status = runBin(t, nil, "mka", "derive", "--cipher", "GcmAesXpn256", "--key-file", file, "--json")
	require.Zero(t, status, errOut)
	got = map[string]any{}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	for _, k := range []string{"cakFingerprint", "ickFingerprint", "kekFingerprint"} {
		require.Len(t, got[k], 8, k)
	}
	require.Equal(t, strings.ToUpper(ckn), got["ckn"])
	require.Contains(t, got["notice"], "padded with 32 trailing zeros")
	require.NotContains(t, out, short)
}
