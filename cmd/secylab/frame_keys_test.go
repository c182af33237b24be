package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/dataplane/capture"
	"github.com/secylab/secylab/lab"
)

// TestFrameValidateKeys: frames two ends sent with their own SAs (XPN, SCI
// omitted as on ExpressRoute) decrypt with one keys file, each with its
// sender's SA; MKA frames are skipped; the SAKs are never printed.
func TestFrameValidateKeys(t *testing.T) {
	dir := t.TempDir()
	sak := strings.ReplaceAll(suites[3].sak, " ", "")
	ends := []struct {
		mac, sci, ssci string
	}{
		{"\xf0\x76\x1e\x8d\xcd\x3d", "f0761e8dcd3d0001", "00000001"},
		{"\x02\x00\x00\x00\x00\x02", "0200000000020001", "00000002"},
	}
	var wire, want []capture.Packet
	kf := &lab.KeysFile{Lab: "t"}
	lk := lab.LinkKeys{Link: "link1", PSKs: []lab.PSKExport{{Node: "ce1", Port: "er1", Cipher: "GcmAesXpn256", CKN: "AB", CAK: sak}}}
	for i, e := range ends {
		clear := cleartextFrames()
		for j := range clear {
			copy(clear[j].Data[6:12], e.mac)
			clear[j].Timestamp = clear[j].Timestamp.Add(time.Duration(i) * time.Microsecond)
		}
		in, out := filepath.Join(dir, "clear.pcapng"), filepath.Join(dir, "wire.pcapng")
		require.NoError(t, capture.WriteFile(in, clear))
		o, err := runCLI(t, "", "frame", "protect", "--in", in, "--out", out, "--cipher", "GcmAesXpn256", "--sak", sak,
			"--ssci", e.ssci, "--salt", testSalt, "--an", "1", "--pn", "1")
		require.NoError(t, err, o)
		prot, _, err := capture.ReadFile(out)
		require.NoError(t, err)
		wire = append(wire, prot...)
		want = append(want, clear...)
		lk.SAs = append(lk.SAs, lab.SAExport{Link: "link1", Node: "n" + e.ssci, Port: "er1", Cipher: "GcmAesXpn256", SCI: e.sci, AN: 1, KN: 1,
			SSCI: e.ssci, Salt: testSalt, SAK: sak, LowestPN: 1, NextPN: 6})
	}
	mkpdu := append([]byte("\x01\x80\xc2\x00\x00\x03\x02\x00\x00\x00\x00\x02\x88\x8e"), make([]byte, 60)...)
	wire = append(wire, capture.Packet{Timestamp: time.Now(), Data: mkpdu, Length: len(mkpdu)})
	kf.Add(lk)
	keys, capFile, back := filepath.Join(dir, "keys.json"), filepath.Join(dir, "link1.pcapng"), filepath.Join(dir, "back.pcapng")
	require.NoError(t, lab.WriteKeysFile(keys, kf))
	st, err := os.Stat(keys)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	require.NoError(t, capture.WriteFile(capFile, wire))

	out, err := runCLI(t, "", "frame", "validate", "--keys", keys, "--in", capFile, "--out", back)
	require.NoError(t, err, out)
	require.Contains(t, out, "delivered 10 of 10 MACsec frames; 1 MKA frames skipped; 0 frames in clear")
	require.NotContains(t, out, sak, "the SAK is never printed")
	got, _, err := capture.ReadFile(back)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].Data, got[i].Data, "frame %d", i+1)
	}

	// A file others may read is refused; so are flags that give an SA too.
	require.NoError(t, os.Chmod(keys, 0o644))
	_, err = runCLI(t, "", "frame", "validate", "--keys", keys, "--in", capFile)
	require.ErrorContains(t, err, "mode 0644")
	require.True(t, isUsage(err))
	require.NoError(t, os.Chmod(keys, 0o600))
	_, err = runCLI(t, "", "frame", "validate", "--keys", keys, "--in", capFile, "--an", "1")
	require.ErrorContains(t, err, "--keys gives every SA: --an excludes it")

	// A capture cut at the snap length cannot be validated: whole frames.
	cut := filepath.Join(dir, "cut.pcapng")
	f, err := os.Create(cut)
	require.NoError(t, err)
	w, err := capture.NewWriterSnap(f, capture.PCAPNG, capture.DefaultSnapLen)
	require.NoError(t, err)
	for _, p := range wire {
		require.NoError(t, w.Write(p))
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
	_, err = runCLI(t, "", "frame", "validate", "--keys", keys, "--in", cut)
	require.ErrorContains(t, err, "whole frames are needed")
}
