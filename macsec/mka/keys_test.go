package mka

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSecretsNeverPrinted(t *testing.T) {
	raw := bytes.Repeat([]byte{0xAB}, 16)
	cak, err := NewCAK(raw)
	require.NoError(t, err)
	ick, err := DeriveICK(cak, CKN{1})
	require.NoError(t, err)
	kek, err := DeriveKEK(cak, CKN{1})
	require.NoError(t, err)
	sak, err := NewSAK(bytes.Repeat([]byte{0xCD}, 16))
	require.NoError(t, err)
	psk := PSK{CKN: CKN{1, 2}, CAK: cak}

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, v := range []any{cak, &cak, ick, kek, sak, psk} {
		log.Info("key", "k", v)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			out := fmt.Sprintf(verb, v)
			for _, key := range [][]byte{cak.Bytes(), ick.Bytes(), kek.Bytes(), sak.Bytes()} {
				assert.NotContains(t, strings.ToLower(out), fmt.Sprintf("%x", key[:4]), "verb %s printed key material: %s", verb, out)
			}
			assert.Contains(t, out, "fp:", "verb %s: %s", verb, out)
		}
	}
	for _, key := range [][]byte{cak.Bytes(), ick.Bytes(), kek.Bytes(), sak.Bytes()} {
		assert.NotContains(t, strings.ToLower(logs.String()), fmt.Sprintf("%x", key[:4]))
	}
	assert.Equal(t, "CAK(fp:"+cak.Fingerprint()+")", cak.String())
	assert.Len(t, cak.Fingerprint(), 8)
	assert.NotEqual(t, cak.Fingerprint(), ick.Fingerprint(), "labels separate the fingerprints")
}

func TestZero(t *testing.T) {
	cak, err := NewCAK(bytes.Repeat([]byte{1}, 32))
	require.NoError(t, err)
	cp := cak
	cak.Zero()
	assert.True(t, cp.IsZero(), "copies share the key and are zeroed too")
	psk := PSK{CAK: cp}
	psk.Zero()
	assert.True(t, psk.CAK.IsZero())
}
