package kmacsec

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink/nl"

	"github.com/secylab/secylab/macsec"
)

// TestSAConfig: what the kernel gets for an SA (if_macsec.h): XPN takes a
// u64 PN in host order, the SSCI as ssci_t (network order) and the salt;
// the original suites a u32 PN and neither; PN 0 is raised to 1; the key
// ID is not the key.
func TestSAConfig(t *testing.T) {
	sak := bytes.Repeat([]byte{0xA5}, 32)
	salt := macsec.Salt{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	attrs := func(suite macsec.CipherSuite, pn uint64) map[uint16][]byte {
		y := &SecY{cfg: DeviceConfig{Suite: suite}}
		a, err := nl.ParseRouteAttr(y.saConfig(2, &macsec.Key{SAK: sak[:suite.KeyLen()], SSCI: 0x01020304, Salt: salt}, pn).Serialize()[4:])
		require.NoError(t, err)
		m := map[uint16][]byte{}
		for _, f := range a {
			m[f.Attr.Type] = f.Value
		}
		return m
	}
	x := attrs(macsec.GCMAESXPN256, 1<<40|7)
	assert.Equal(t, []byte{2}, x[saAttrAN])
	assert.Equal(t, []byte{1}, x[saAttrActive])
	assert.Equal(t, uint64(1<<40|7), native.Uint64(x[saAttrPN]))
	assert.Equal(t, []byte{1, 2, 3, 4}, x[saAttrSSCI], "network byte order")
	assert.Equal(t, salt[:], x[saAttrSalt])
	assert.Equal(t, sak, x[saAttrKey])
	assert.Len(t, x[saAttrKeyID], keyIDLen)
	assert.False(t, bytes.Contains(sak, x[saAttrKeyID][:8]))

	o := attrs(macsec.GCMAES128, 0)
	assert.Equal(t, uint32(1), native.Uint32(o[saAttrPN]), "PN 0 is invalid on add")
	assert.Len(t, o[saAttrPN], 4)
	assert.NotContains(t, o, uint16(saAttrSSCI))
	assert.NotContains(t, o, uint16(saAttrSalt))
	assert.Len(t, o[saAttrKey], 16)

	assert.Equal(t, uint64(0x5254000001290001), binary.BigEndian.Uint64(sciAttr(0x5254000001290001)))
}
