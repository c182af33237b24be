package conformance

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type cpioFile struct {
	mode         uint32
	data         string
	major, minor uint32
}

// readCpio is an independent newc reader: it checks the magic, the
// 4-octet alignment and the trailer.
func readCpio(t *testing.T, b []byte) map[string]cpioFile {
	t.Helper()
	files := map[string]cpioFile{}
	r := bytes.NewReader(b)
	off := func() int64 { return int64(len(b)) - int64(r.Len()) }
	align := func() {
		if p := off() % 4; p != 0 {
			r.Seek(4-p, io.SeekCurrent)
		}
	}
	for {
		var hdr [110]byte
		_, err := io.ReadFull(r, hdr[:])
		require.NoError(t, err, "header at %d", off())
		require.Equal(t, "070701", string(hdr[:6]))
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
			require.NoError(t, err)
			return uint32(v)
		}
		mode, size, major, minor, nameLen := field(1), field(6), field(9), field(10), field(11)
		name := make([]byte, nameLen)
		_, err = io.ReadFull(r, name)
		require.NoError(t, err)
		require.Equal(t, byte(0), name[nameLen-1], "name NUL-terminated")
		align()
		data := make([]byte, size)
		_, err = io.ReadFull(r, data)
		require.NoError(t, err)
		align()
		n := string(name[:nameLen-1])
		if n == "TRAILER!!!" {
			assert.Zero(t, r.Len(), "nothing after the trailer")
			return files
		}
		files[n] = cpioFile{mode: mode, data: string(data), major: major, minor: minor}
	}
}

func TestInitramfsIsValidNewc(t *testing.T) {
	src := filepath.Join(t.TempDir(), "prog")
	require.NoError(t, os.WriteFile(src, []byte("#!/bin/sh\necho odd length\n"), 0o755))

	var f Initramfs
	f.File("init", 0o755, []byte("#!/bin/sh\n"))
	require.NoError(t, f.Copy("usr/sbin/ip", src))
	f.Symlink("bin/sh", "busybox")
	f.CharDev("dev/console", 5, 1)
	f.File("init", 0o644, []byte("ignored: the first one wins"))
	require.Error(t, f.Copy("x", filepath.Join(t.TempDir(), "missing")))

	var buf bytes.Buffer
	n, err := f.WriteTo(&buf)
	require.NoError(t, err)
	assert.Equal(t, int64(buf.Len()), n)
	assert.Zero(t, buf.Len()%4)

	files := readCpio(t, buf.Bytes())
	assert.Equal(t, cpioFile{mode: cpioReg | 0o755, data: "#!/bin/sh\n"}, files["init"])
	assert.Equal(t, cpioFile{mode: cpioReg | 0o755, data: "#!/bin/sh\necho odd length\n"}, files["usr/sbin/ip"])
	assert.Equal(t, cpioFile{mode: cpioLink | 0o777, data: "busybox"}, files["bin/sh"])
	assert.Equal(t, cpioFile{mode: cpioChr | 0o600, major: 5, minor: 1}, files["dev/console"])
	for _, d := range []string{"usr", "usr/sbin", "bin", "dev"} {
		assert.Equal(t, uint32(cpioDir|0o755), files[d].mode, d)
	}
	// Parents come before their children, as the kernel unpacks in order.
	names := f.Names()
	assert.Less(t, indexOf(names, "usr"), indexOf(names, "usr/sbin"))
	assert.Less(t, indexOf(names, "usr/sbin"), indexOf(names, "usr/sbin/ip"))
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	panic(fmt.Sprintf("%q not in %q", v, s))
}

func TestInitScriptCarriesTheSuite(t *testing.T) {
	args := guestArgs(VMConfig{Suites: []string{SuiteMACsec, SuiteMKA}, Transfer: 4096, Filter: "it's"})
	assert.Equal(t, []string{"--suite", "macsec,mka", "--transfer", "4096", "--run", `'it'\''s'`}, args)
}
