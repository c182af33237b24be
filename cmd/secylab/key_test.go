package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
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
	require.NotRegexp(t, `\nICK [0-9a-f]{32}`, out, "raw keys only with --show-secrets")
	out, _, status = runBin(t, nil, "mka", "derive", "--cipher", "GcmAesXpn256", "--key-file", file, "--show-secrets")
	require.Zero(t, status)
	require.Regexp(t, `\nICK [0-9a-f]{64}\n`, out)

	_, errOut, status = runBin(t, nil, "key", "gen", "--cipher", "GcmAes512", "--out", filepath.Join(dir, "x"))
	require.Equal(t, 2, status)
	require.Contains(t, errOut, "--cipher")
}

// The ICK and KEK derive as the 802.1X KDF vectors say (MKAdaemon's Annex G
// cases ICK_ANNEX_G_5_1 and KEK_ANNEX_G_4_1).
func TestMKADeriveVector(t *testing.T) {
	file := filepath.Join(t.TempDir(), "v.psk")
	require.NoError(t, os.WriteFile(file, []byte("CKN=96437A93CCF10D9DFE347846CCE52C7D\nCAK=135BD758B0EE5C11C55FF6AB19FDB199\n"), 0o600))
	out, errOut, status := runBin(t, nil, "mka", "derive", "--cipher", "GcmAes128", "--key-file", file, "--show-secrets")
	require.Zero(t, status, errOut)
	require.Contains(t, out, "ICK 8f1c5cb1c8ed2e5f047906e0473aad4d")
	require.Contains(t, out, "KEK 8f5a384c15d6ae9302b462e363d03ca6")
}
