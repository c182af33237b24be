package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Values a user never means are refused with exit status 2, naming the flag
// and its range, before any lab is touched (issue 12 items 3 and 8).
func TestLabFlagsRefuseOutOfRange(t *testing.T) {
	env := []string{"SECYLAB_STATE_DIR=" + t.TempDir()}
	trav := filepath.Join(t.TempDir(), "x")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lab", "macsec", "set", "link1", "--node", "msee1", "--new-key", "../../../../" + trav + "/travkey"}, "a key name is a name, not a path"},
		{[]string{"lab", "macsec", "set", "link1", "--new-key", "a/b"}, "--new-key"},
		{[]string{"lab", "macsec", "set", "link1", "--sci", "Enabeld"}, `"Enabeld": want Enabled or Disabled (on or off)`},
		{[]string{"lab", "macsec", "set", "link1", "--cipher", "GcmAes512"}, "want GcmAes128, GcmAes256, GcmAesXpn128 or GcmAesXpn256"},
		{[]string{"lab", "macsec", "set", "link1", "--on", "--off"}, "--on and --off exclude each other"},
		{[]string{"lab", "up", "--mka-hello", "0s"}, `"--mka-hello" flag: 0s is out of range: want 100ms to 1m0s`},
		{[]string{"lab", "up", "--mka-hello", "-1s"}, `"--mka-hello" flag`},
		{[]string{"lab", "up", "--mka-hello", "2s", "--mka-life", "1s"}, "--mka-life 1s: must exceed the hello time 2s"},
		{[]string{"lab", "up", "--wait", "-5s"}, `"--wait" flag`},
		{[]string{"lab", "up", "--host", "ms"}, "--host ms: name the topology file whose hosts block lists it"},
		{[]string{"lab", "link", "set", "link1", "--delay", "-5ms"}, `"--delay" flag`},
		{[]string{"lab", "link", "set", "link1", "--delay", "1000h"}, "1000h0m0s is out of range: want 0s to 10s"},
		{[]string{"lab", "link", "set", "link1", "--rate", "1bit"}, "want 1kbit to 1Tbit"},
		{[]string{"lab", "link", "set", "link1", "--rate", "0"}, "want 1kbit to 1Tbit"},
		{[]string{"lab", "link", "set", "link1", "--loss", "101%"}, "want 0% to 100%"},
		{[]string{"lab", "link", "admin-state", "link1", "Enabeld"}, `STATE "Enabeld": want Enabled or Disabled`},
		{[]string{"lab", "route", "ce1", "10.50.0.0", "192.168.100.130"}, `PREFIX "10.50.0.0": want a prefix`},
		{[]string{"lab", "route", "ce1", "10.50.0.0/16", "x"}, `VIA "x": want an IP address`},
		{[]string{"lab", "capture", "link1", "--side", "both"}, `--side "both": want wire or clear`},
		{[]string{"lab", "capture", "link1", "-s", "0.5", "-o", "x.pcapng"}, `--snaplen snap length "0.5": want 1 to 262144 octets, or full`},
		{[]string{"lab", "capture", "link1", "-C", "1kB", "-o", "x.pcapng"}, "file size 1000: want 0 (no cap) or at least 65536 octets"},
		{[]string{"lab", "run", "--files", "0"}, "files 0: want 1 to 10000"},
		{[]string{"lab", "run", "--file-size", "lots"}, `--file-size size "lots": want octets or a number with kB`},
		{[]string{"lab", "keys", "link1"}, "give -o FILE: keys are written only to a 0600 file, never to stdout"},
		{[]string{"ipsec", "state", "add", "--node", "gw", "--spi", "5", "--src", "1.1.1.1", "--dst", "2.2.2.2", "--dir", "in", "--key-file", "k"}, "a 32-bit SPI of 256 or more"},
		{[]string{"ipsec", "state", "add", "--node", "gw", "--spi", "0x2001", "--src", "1.1.1.1", "--dst", "2.2.2.2", "--dir", "sideways", "--key-file", "k"}, `--dir "sideways": want in or out`},
	} {
		out, errOut, status := runBin(t, env, tc.args...)
		assert.Equal(t, 2, status, "%v: %s%s", tc.args, out, errOut)
		assert.Contains(t, errOut, tc.want, "%v", tc.args)
	}
	_, err := os.Stat(filepath.Dir(trav))
	require.NoError(t, err)
	_, err = os.Stat(trav)
	require.ErrorIs(t, err, os.ErrNotExist, "nothing written outside the key directory")
}

// Every command of the vocabulary has examples of its own; the help of lab
// macsec set says what goes in clear, and when (issue 12 item 12).
func TestLabOpsHelp(t *testing.T) {
	seen := map[string]string{}
	for _, args := range [][]string{
		{"lab", "macsec"}, {"lab", "macsec", "set"}, {"lab", "macsec", "rekey"},
		{"lab", "bgp"}, {"lab", "bgp", "drain"}, {"lab", "bgp", "undrain"}, {"lab", "bgp", "reset"},
		{"lab", "link", "set"}, {"lab", "link", "cut"}, {"lab", "link", "restore"}, {"lab", "link", "admin-state"},
		{"lab", "capture"}, {"ipsec", "state", "list"}, {"ipsec", "state", "add"}, {"ipsec", "state", "delete"},
		{"ipsec", "policy", "list"}, {"ipsec", "rekey"},
		{"lab", "route"}, {"frame", "protect"}, {"frame", "validate"}, {"frame", "decode"},
	} {
		out, err := runCLI(t, "", append(args, "--help")...)
		require.NoError(t, err)
		i := strings.Index(out, "Examples:")
		require.GreaterOrEqual(t, i, 0, "%v has no examples", args)
		ex := out[i:]
		ex = ex[:strings.Index(ex, "\n\n")]
		require.Contains(t, ex, "secylab "+strings.Join(args, " "), "%v's examples are its own", args)
		if prev, ok := seen[ex]; ok {
			t.Errorf("%v repeats the examples of %s", args, prev)
		}
		seen[ex] = strings.Join(args, " ")
	}
	out, err := runCLI(t, "", "lab", "macsec", "set", "--help")
	require.NoError(t, err)
	assert.Contains(t, out, "--off --node N: N's own traffic")
	assert.Contains(t, out, "goes onto the wire in clear")
	assert.Contains(t, out, "Without --node, both ends get the same new\nCAK/CKN")
	out, err = runCLI(t, "", "lab", "bgp", "undrain", "--help")
	require.NoError(t, err)
	assert.NotContains(t, out, "prepends its AS", "undrain's help is its own")
}
