package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/dataplane/capture"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/lab"
)

// TestLabKeysDecryptCapture: a lab capture (whole frames) decrypts with the
// keys lab keys exports to exactly what was sent: every MACsec frame on the
// wire is delivered, among them the pings ce1 sent with a payload pattern.
func TestLabKeysDecryptCapture(t *testing.T) {
	l := startLab(t)
	dir := t.TempDir()
	wire, keys, clear := filepath.Join(dir, "link1.pcapng"), filepath.Join(dir, "keys.json"), filepath.Join(dir, "clear.pcapng")

	// Keys are never written without -o FILE, never to stdout.
	_, errOut, status := l.run("lab", "keys", "link1")
	require.Equal(t, 2, status, errOut)
	require.Contains(t, errOut, "give -o FILE")

	cmd := exec.Command(secylabBin, "lab", "capture", "link1", "--full", "-o", wire, "--duration", "3s", "--lab", l.name)
	cmd.Env = append(os.Environ(), "SECYLAB_STATE_DIR="+l.state)
	require.NoError(t, cmd.Start())
	time.Sleep(300 * time.Millisecond)
	const pattern, pings = "5ec71ab05ec71ab0", 10
	out, err := exec.Command("ip", "netns", "exec", l.ns("ce1"), "ping", "-c", "10", "-i", "0.1", "-W", "1", "-p", pattern, "192.168.100.130").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, cmd.Wait())

	out2, errOut, status := l.run("lab", "keys", "link1", "-o", keys)
	require.Zero(t, status, "%s%s", out2, errOut)
	require.Empty(t, out2, "nothing on stdout")
	require.Contains(t, errOut, "warning: wrote")
	require.Contains(t, errOut, "SECRET")
	st, err := os.Stat(keys)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	vout, verr, status := runBin(t, nil, "frame", "validate", "--keys", keys, "--in", wire, "--out", clear)
	require.Zero(t, status, "%s%s", vout, verr)
	pkts, _, err := capture.ReadFile(wire)
	require.NoError(t, err)
	var macsecFrames int
	for _, p := range pkts {
		if binary.BigEndian.Uint16(p.Data[12:]) == 0x88e5 {
			macsecFrames++
		}
	}
	require.Positive(t, macsecFrames)
	require.Contains(t, vout, "delivered "+strconv.Itoa(macsecFrames)+" of "+strconv.Itoa(macsecFrames)+" MACsec frames")
	require.NotContains(t, vout, strings.Repeat("0", 64))

	got, _, err := capture.ReadFile(clear)
	require.NoError(t, err)
	want := []byte{0x5e, 0xc7, 0x1a, 0xb0, 0x5e, 0xc7, 0x1a, 0xb0}
	requests, replies := 0, 0
	for _, p := range got {
		// The private peering's frames: tagged VLAN 100 inside MACsec,
		// the tag back in place once decrypted.
		d := p.Data
		if len(d) < 18 || binary.BigEndian.Uint16(d[12:]) != 0x8100 || binary.BigEndian.Uint16(d[14:])&0x0fff != 100 {
			continue
		}
		d = append(d[:12:12], d[16:]...)
		if len(d) < 14+20+8 || binary.BigEndian.Uint16(d[12:]) != 0x0800 || d[23] != 1 || !bytes.Contains(d[42:], want) {
			continue
		}
		switch d[34] {
		case 8:
			requests++
		case 0:
			replies++
		}
	}
	require.Equal(t, pings, requests, "every echo request ce1 sent, decrypted, with its VLAN 100 tag")
	require.Equal(t, pings, replies, "and every reply")
}

// TestLabRunExportKeys: lab run --export-keys --full writes the run's keys
// (0600) next to its report, and they decrypt every MACsec frame of the
// run's capture, across the rekey the scenario causes; the report and the
// output hold no key.
func TestLabRunExportKeys(t *testing.T) {
	nettest.NeedRoot(t)
	dir := t.TempDir()
	env := []string{"SECYLAB_STATE_DIR=" + filepath.Join(dir, "state")}
	out, errOut, status := runBin(t, env, "lab", "run", "sci-state", "--full", "--export-keys", "--out", filepath.Join(dir, "r"))
	require.Zero(t, status, "%s\n%s", out, errOut)
	keys := filepath.Join(dir, "r", "sci-state", "keys.json")
	st, err := os.Stat(keys)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	require.Contains(t, out, "keys (secret, 0600): "+keys)
	require.Contains(t, errOut, "warning: wrote")

	kf, err := lab.ReadKeysFile(keys)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(kf.SAs()), 4, "both ends, before and after the rekey")
	report, err := os.ReadFile(filepath.Join(dir, "r", "sci-state", "report.json"))
	require.NoError(t, err)
	for _, sa := range kf.SAs() {
		for _, text := range []string{out, errOut, string(report)} {
			require.NotContains(t, text, sa.SAK, "a SAK is never printed or reported")
		}
	}

	wire := filepath.Join(dir, "r", "sci-state", "captures", "link1-wire.pcapng")
	vout, verr, status := runBin(t, nil, "frame", "validate", "--keys", keys, "--in", wire)
	require.Zero(t, status, "%s%s", vout, verr)
	require.Contains(t, vout, "; 0 frames in clear")
}
