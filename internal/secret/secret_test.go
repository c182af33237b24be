package secret

import (
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	require.NoError(t, os.WriteFile(good, []byte("CKN=01\n"), 0o600))
	b, err := ReadFile(good)
	require.NoError(t, err)
	require.Equal(t, "CKN=01\n", string(b))

	ro := filepath.Join(dir, "ro")
	require.NoError(t, os.WriteFile(ro, []byte("x"), 0o400))
	_, err = ReadFile(ro)
	require.NoError(t, err, "stricter than 0600 is fine")

	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(good, link))
	_, err = ReadFile(link)
	require.NoError(t, err, "a symlink to a good key file (a mounted secret) is read")

	open := filepath.Join(dir, "open")
	require.NoError(t, os.WriteFile(open, []byte("x"), 0o600))
	require.NoError(t, os.Chmod(open, 0o644))
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("0", MaxFileSize+1)), 0o600))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	for name, want := range map[string]string{
		open:                       "has mode 0644: a key file must be for its owner only, mode 0600 or stricter",
		dir:                        "is a directory",
		filepath.Join(dir, "nope"): "does not exist",
		big:                        "larger than 4096 octets",
		fifo:                       "not a regular file",
	} {
		_, err := ReadFile(name)
		require.ErrorContains(t, err, want, name)
		require.ErrorContains(t, err, name)
	}
	_, err = ReadFile(filepath.Join(dir, "nope"))
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.psk")
	cak := strings.Repeat("5a", 32)
	require.NoError(t, os.WriteFile(path, []byte("CKN=abcd\nCAK="+cak+"\n"), 0o600))
	k, err := LoadKey(path, macsec.GCMAESXPN256)
	require.NoError(t, err)
	require.Equal(t, "ABCD", k.CKN.String())
	require.Equal(t, cak, hex.EncodeToString(k.CAK.Bytes()))
	_, err = LoadKey(path, macsec.GCMAES128)
	require.ErrorContains(t, err, "key file "+path+": CAK: 64 hex digits: GcmAes128 takes 32")
	require.NotContains(t, err.Error(), cak[:8])
	require.NoError(t, os.Chmod(path, 0o640))
	_, err = LoadKey(path, macsec.GCMAESXPN256)
	require.ErrorContains(t, err, "has mode 0640")
	_, err = LoadKey(dir, macsec.GCMAESXPN256)
	require.ErrorContains(t, err, "is a directory")
}
