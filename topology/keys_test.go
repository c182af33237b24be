package topology

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeyFilesCheckedAtValidation: every key file a topology names is
// checked when the topology is read, before anything is built, and a bad
// one is refused at the YAML file, line and secret field that names it.
// Keys used to be read only by the lab process after the namespaces were
// made (issue 12, item 7).
func TestKeyFilesCheckedAtValidation(t *testing.T) {
	dir := t.TempDir()
	ckn := strings.Repeat("ab", 32)
	write := func(name, content string, mode os.FileMode) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		require.NoError(t, os.Chmod(p, mode))
	}
	write("good.psk", "CKN="+ckn+"\nCAK="+strings.Repeat("12", 32)+"\n", 0o600)
	write("short.psk", "CKN="+ckn+"\nCAK="+strings.Repeat("12", 16)+"\n", 0o600)
	write("badcak.psk", "CKN="+ckn+"\nCAK="+strings.Repeat("zz", 32)+"\n", 0o600)
	write("oddcak.psk", "CKN="+ckn+"\nCAK="+strings.Repeat("1", 63)+"\n", 0o600)
	write("zerocak.psk", "CKN="+ckn+"\nCAK="+strings.Repeat("0", 64)+"\n", 0o600)
	write("longcak.psk", "CKN="+ckn+"\nCAK="+strings.Repeat("12", 33)+"\n", 0o600)
	write("oddckn.psk", "CKN=abc\nCAK="+strings.Repeat("12", 32)+"\n", 0o600)
	write("longckn.psk", "CKN="+strings.Repeat("ab", 33)+"\nCAK="+strings.Repeat("12", 32)+"\n", 0o600)
	write("open.psk", "CKN="+ckn+"\nCAK="+strings.Repeat("12", 32)+"\n", 0o644)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "adir.psk"), 0o700))
	file := filepath.Join(dir, "lab.yaml")

	parse := func(t *testing.T, y string) (*Topology, error) {
		t.Helper()
		require.NoError(t, os.WriteFile(file, []byte(y), 0o600))
		return Load(file)
	}
	// base's "secret: generate" is on line 22.
	for name, tc := range map[string]struct{ secret, want string }{
		"bad CAK":      {"badcak.psk", "CAK: must be hex digits"},
		"odd CAK":      {"oddcak.psk", "odd number of hex digits (63)"},
		"zero CAK":     {"zerocak.psk", "all zeros"},
		"long CAK":     {"longcak.psk", "CAK: 66 hex digits: GcmAesXpn256 takes 64"},
		"odd CKN":      {"oddckn.psk", "CKN: odd number of hex digits (3)"},
		"long CKN":     {"longckn.psk", "CKN: 66 hex digits: at most 64"},
		"mode 0644":    {"open.psk", "has mode 0644"},
		"missing":      {"nope.psk", "does not exist"},
		"directory":    {"adir.psk", "is a directory"},
		"absolute bad": {filepath.Join(dir, "open.psk"), "has mode 0644"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parse(t, edit(t, "secret: generate", "secret: "+tc.secret))
			require.Error(t, err)
			var e *Error
			require.True(t, errors.As(err, &e), "%v", err)
			assert.Equal(t, file, e.File)
			assert.Equal(t, 22, e.Line)
			assert.Equal(t, "links[0].macsec.secret", e.Field)
			assert.Contains(t, e.Msg, tc.want)
			assert.NotContains(t, err.Error(), strings.Repeat("12", 16), "an error never shows the key")
		})
	}

	t.Run("override", func(t *testing.T) {
		_, err := parse(t, edit(t, "secret: generate", "secret: good.psk\n      allowMismatch: true\n      overrides:\n        b:er1: {secret: open.psk}"))
		var e *Error
		require.True(t, errors.As(err, &e), "%v", err)
		assert.Equal(t, 25, e.Line)
		assert.Equal(t, "links[0].macsec.overrides.b:er1.secret", e.Field)
		assert.Contains(t, e.Msg, "has mode 0644")
	})

	t.Run("override cipher", func(t *testing.T) {
		// A 64-digit CAK is too long for the end that runs a 128-bit suite.
		_, err := parse(t, edit(t, "secret: generate", "secret: good.psk\n      allowMismatch: true\n      overrides:\n        b:er1: {cipher: GcmAesXpn128}"))
		var e *Error
		require.True(t, errors.As(err, &e), "%v", err)
		assert.Equal(t, "links[0].macsec.secret", e.Field)
		assert.Contains(t, e.Msg, "b:er1")
		assert.Contains(t, e.Msg, "GcmAesXpn128 takes 32")
	})

	t.Run("good", func(t *testing.T) {
		topo, err := parse(t, edit(t, "secret: generate", "secret: good.psk"))
		require.NoError(t, err)
		assert.Empty(t, topo.Warnings)
	})

	t.Run("padded", func(t *testing.T) {
		// Azure pads a shorter CAK with trailing zeros: accepted, and said.
		topo, err := parse(t, edit(t, "secret: generate", "secret: short.psk"))
		require.NoError(t, err)
		require.Len(t, topo.Warnings, 1)
		assert.Contains(t, topo.Warnings[0], file+":22: links[0].macsec.secret: ")
		assert.Contains(t, topo.Warnings[0], "32 hex digits; GcmAesXpn256 takes 64: padded with 32 trailing zeros, as Azure does")
	})

	t.Run("macsec off", func(t *testing.T) {
		// A key named is a key checked, even on a link that starts in clear.
		_, err := parse(t, edit(t, "enabled: true", "enabled: false", "secret: generate", "secret: open.psk"))
		require.ErrorContains(t, err, "has mode 0644")
	})
}
