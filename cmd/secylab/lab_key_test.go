package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/topology"
)

// keyLab is a two-router lab whose one MACsec link reads its key from
// secret (line 22 of the file).
const keyLab = `name: k
profile: expressroute
nodes:
  a:
    kind: router
    ports:
      er1:
        kind: direct
        addresses: [192.168.100.129/30]
  b:
    kind: router
    ports:
      er1:
        kind: direct
        addresses: [192.168.100.130/30]
links:
  - name: link1
    endpoints: [a:er1, b:er1]
    macsec:
      enabled: true
      cipher: GcmAesXpn256
      secret: SECRET
`

// TestLabKeyRule: lab up and lab macsec set apply Azure's key rule, the
// same as key check and topology validation (issue 12, item 7). A 32-digit
// CAK for a 256-bit cipher is padded with a notice, at lab up and when a
// cipher change makes Azure pad it; a bad key file stops lab up with
// status 2 at the YAML file, line and secret field, before anything is
// built; lab macsec set refuses one with status 2.
func TestLabKeyRule(t *testing.T) {
	nettest.NeedRoot(t)
	dir := t.TempDir()
	ckn := strings.Repeat("ab", 32)
	for name, mode := range map[string]os.FileMode{"short.psk": 0o600, "open.psk": 0o644} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("CKN="+ckn+"\nCAK="+strings.Repeat("12", 16)+"\n"), 0o600))
		require.NoError(t, os.Chmod(p, mode))
	}
	topo := func(name, secret string) string {
		f := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(f, []byte(strings.Replace(keyLab, "SECRET", secret, 1)), 0o600))
		return f
	}
	good, bad := topo("good.yaml", "short.psk"), topo("bad.yaml", "open.psk")

	l, out := upLab(t, "k", good)
	require.Contains(t, out, "warning: "+good+":22: links[0].macsec.secret: key file "+filepath.Join(dir, "short.psk")+": CAK: 32 hex digits; GcmAesXpn256 takes 64: padded with 32 trailing zeros, as Azure does")

	// The same 32-digit secret fits a 128-bit cipher: no padding, no refusal.
	out, errOut, status := l.run("lab", "macsec", "set", "link1", "--cipher", "GcmAesXpn128")
	require.Zero(t, status, "%s%s", out, errOut)
	require.NotContains(t, out, "padded")
	// Back to a 256-bit cipher: Azure pads it again, and says so, per end.
	out, errOut, status = l.run("lab", "macsec", "set", "link1", "--cipher", "GcmAes256")
	require.Zero(t, status, "%s%s", out, errOut)
	require.Equal(t, 2, strings.Count(out, "notice: link link1, "), out)
	require.Contains(t, out, "CAK: 32 hex digits; GcmAes256 takes 64: padded with 32 trailing zeros")

	_, errOut, status = l.run("lab", "macsec", "set", "link1", "--node", "a", "--key-file", filepath.Join(dir, "open.psk"))
	require.Equal(t, 2, status, errOut)
	require.Contains(t, errOut, "has mode 0644")

	name := l.name + "b"
	_, errOut, status = l.run("lab", "up", bad, "--name", name)
	require.Equal(t, 2, status, errOut)
	require.Contains(t, errOut, bad+":22: links[0].macsec.secret: key file "+filepath.Join(dir, "open.psk")+" has mode 0644")
	ns, err := exec.Command("ip", "netns", "list").Output()
	require.NoError(t, err)
	for _, node := range []string{"a", "b"} {
		require.NotContains(t, string(ns), topology.NamespaceName(name, node), "nothing is built for a refused key")
	}
}

// upLab starts the lab of topology file under a fresh name starting with
// prefix, waits until MKA secures it, and returns it and lab up's output.
func upLab(t *testing.T, prefix, file string) (*testLab, string) {
	t.Helper()
	l := &testLab{t: t, name: fmt.Sprintf("%s%d%d", prefix, os.Getpid()%10000, labSeq.Add(1)), state: t.TempDir()}
	t.Cleanup(func() {
		if out, errOut, status := l.run("lab", "down", "--all"); status != 0 {
			t.Errorf("lab down --all: %s%s", out, errOut)
		}
	})
	out, errOut, status := l.run("lab", "up", file, "--name", l.name, "--wait", "20s")
	require.Zero(t, status, "lab up: %s%s", out, errOut)
	require.Contains(t, out, "MKA secured every MACsec link")
	return l, out
}
