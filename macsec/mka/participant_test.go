package mka

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

const (
	cknHex = "0123456789ABCDEF0123456789ABCDEF"
	cak128 = "00112233445566778899AABBCCDDEEFF"
	cak256 = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
)

func cakFor(s macsec.CipherSuite) string {
	if s.KeyLen() == 32 {
		return cak256
	}
	return cak128
}

// TestSecureChannelUp: the same CAK/CKN on both ends; the channel is up
// after the first hello exchange, frames flow both ways, and for XPN both
// ends use the salt and SSCIs of 802.1AE-2018 10.7.8.
func TestSecureChannelUp(t *testing.T) {
	for _, suite := range macsec.Suites {
		t.Run(suite.String(), func(t *testing.T) {
			o := nodeOpts{psk: testPSK(t, cknHex, cakFor(suite), suite), priority: 16}
			l := newLab(t, suite, o, o)

			var upAt time.Duration
			for i := 0; i < 100 && !l.up(); i++ {
				l.advance(step, 0, nil)
				upAt = l.now.Sub(t0)
			}
			require.True(t, l.up(), "secure channel not up after 100 ms")
			assert.LessOrEqual(t, upAt, 10*time.Millisecond, "up after the first hello exchange (a few wire delays), not a hello time later")
			t.Logf("%s: secure channel up after %v", suite, upAt)

			l.advance(time.Second, 5*time.Millisecond, l.traffic)
			l.both(func(n *node) {
				assert.Zero(t, n.dropped, n.name)
				assert.Equal(t, n.sent, n.peer.delivered, "%s → %s", n.name, n.peer.name)
				assert.Greater(t, n.sent, 150)
				assert.Zero(t, n.outOfOrder)
			})

			sa, sb := l.a.p.Status(), l.b.p.Status()
			// Equal priority: the lower SCI (a) is key server.
			assert.True(t, sa.KeyServer)
			assert.False(t, sb.KeyServer)
			assert.Equal(t, l.a.sci, sb.KeyServerSCI)
			require.NotNil(t, sa.Latest)
			require.NotNil(t, sb.Latest)
			assert.Equal(t, sa.Latest.KI, sb.Latest.KI)
			assert.Equal(t, KI{MI: sa.MI, KN: 1}, sa.Latest.KI)
			assert.Equal(t, sa.Latest.SAKFingerprint, sb.Latest.SAKFingerprint)
			assert.Equal(t, sa.CAKFingerprint, sb.CAKFingerprint)

			ka, kb := l.a.secy.tx[sa.Latest.AN], l.b.secy.tx[sb.Latest.AN]
			if !suite.XPN() {
				assert.Zero(t, ka.SSCI)
				assert.Zero(t, ka.Salt)
				return
			}
			salt := XPNSalt(sa.MI, 1)
			for _, k := range []macsec.Key{ka, kb, l.a.secy.rx[sa.Latest.AN], l.b.secy.rx[sb.Latest.AN]} {
				assert.Equal(t, salt, k.Salt)
			}
			// b's SCI is greater: b has SSCI 1, a SSCI 2; each end's receive
			// SA carries the other's SSCI.
			assert.Equal(t, macsec.SSCI(2), ka.SSCI)
			assert.Equal(t, macsec.SSCI(1), kb.SSCI)
			assert.Equal(t, macsec.SSCI(1), l.a.secy.rx[sa.Latest.AN].SSCI)
			assert.Equal(t, macsec.SSCI(2), l.b.secy.rx[sb.Latest.AN].SSCI)
			assert.Equal(t, salt, sa.Latest.Salt)
			assert.Equal(t, salt, sb.Latest.Salt)
		})
	}
}

func TestXPNSaltAndSSCI(t *testing.T) {
	mi := MI(unhex(t, "CD421CF86BA457938657675B"))
	assert.Equal(t, "ce461dfa6ba457938657675b", XPNSalt(mi, 0x01020304).String())
	assert.Equal(t, macsec.Salt(mi), XPNSalt(mi, 0))
	scis := []macsec.SCI{0x0200000000010001, 0x020000000002FFFF, 0x0200000000010002}
	assert.Equal(t, macsec.SSCI(1), SSCIFor(scis[1], scis))
	assert.Equal(t, macsec.SSCI(2), SSCIFor(scis[2], scis))
	assert.Equal(t, macsec.SSCI(3), SSCIFor(scis[0], scis))
}
