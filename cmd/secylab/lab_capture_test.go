package main

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/dataplane/capture"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/macsec/mka"
)

// TestLabCaptureFile: lab capture -o writes a 0600 file even over an
// existing 0644 one, refuses a symbolic link, and the wire capture holds
// the port's own MKPDUs as well as the peer's (issue 12, item 10).
func TestLabCaptureFile(t *testing.T) {
	nettest.NeedRoot(t)
	dir := t.TempDir()
	topo := filepath.Join(dir, "lab.yaml")
	require.NoError(t, os.WriteFile(topo, []byte(strings.Replace(keyLab, "SECRET", "generate", 1)), 0o600))
	l, _ := upLab(t, "c", topo)

	file := filepath.Join(dir, "link1.pcapng")
	require.NoError(t, os.WriteFile(file, []byte("old"), 0o644))
	require.NoError(t, os.Chmod(file, 0o644))
	_, errOut, status := l.run("lab", "capture", "link1", "--node", "a", "-o", file, "--duration", "3s")
	require.Zero(t, status, errOut)
	fi, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the help says 0600")

	pkts, _, err := capture.ReadFile(file)
	require.NoError(t, err)
	senders := map[string]int{}
	for _, p := range pkts {
		if len(p.Data) >= 14 && binary.BigEndian.Uint16(p.Data[12:]) == mka.EtherTypeEAPOL {
			senders[net.HardwareAddr(p.Data[6:12]).String()]++
		}
	}
	require.Len(t, senders, 2, "MKPDUs of both ends in a's wire capture: %v", senders)
	for mac, n := range senders {
		require.GreaterOrEqual(t, n, 2, "%s sent %d MKPDUs in 3 s (hello 1 s)", mac, n)
	}

	target := filepath.Join(dir, "target")
	require.NoError(t, os.WriteFile(target, []byte("keep"), 0o600))
	link := filepath.Join(dir, "link.pcapng")
	require.NoError(t, os.Symlink(target, link))
	_, errOut, status = l.run("lab", "capture", "link1", "-o", link, "--duration", "1s")
	require.Equal(t, 2, status, errOut)
	require.Contains(t, errOut, "is a symbolic link")
	b, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, "keep", string(b))
}
