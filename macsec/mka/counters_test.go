package mka

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/countertest"
)

// TestDropCounters feeds one bad frame per case to a participant whose
// channel is up and checks that exactly the named counter moved and
// nothing else changed.
func TestDropCounters(t *testing.T) {
	suite := macsec.GCMAESXPN128
	psk := testPSK(t, cknHex, cak128, suite)
	ick, err := DeriveICK(psk.CAK, psk.CKN)
	require.NoError(t, err)
	otherCAK := testPSK(t, cknHex, "99", suite)
	otherICK, err := DeriveICK(otherCAK.CAK, otherCAK.CKN)
	require.NoError(t, err)
	kek, err := DeriveKEK(psk.CAK, psk.CKN)
	require.NoError(t, err)

	// asKeyServer builds a valid MKPDU from a (the key server) to b.
	asKeyServer := func(l *lab, mnAhead uint32, edit func(m *MKPDU)) *MKPDU {
		sa, sb := l.a.p.Status(), l.b.p.Status()
		m := &MKPDU{
			KeyServerPriority: 16, KeyServer: true, MACsecDesired: true, MACsecCapability: CapabilityConfidentiality,
			SCI: l.a.sci, MI: sa.MI, MN: sa.MN + mnAhead, CKN: psk.CKN,
			LivePeers: []Peer{{MI: sb.MI, MN: sb.MN}},
		}
		if edit != nil {
			edit(m)
		}
		return m
	}
	encode := func(m *MKPDU, k ICK) []byte {
		f, err := m.AppendFrame(nil, net2(l0mac), k)
		require.NoError(t, err)
		return f
	}
	wrapped, err := Wrap(kek.Bytes(), make([]byte, 16))
	require.NoError(t, err)

	for name, tc := range map[string]struct {
		frame   func(l *lab) []byte
		counter func(*Counters) *uint64
	}{
		"not EAPOL-MKA": {
			frame:   func(l *lab) []byte { f := make([]byte, 64); f[12] = 0x08; return f },
			counter: func(c *Counters) *uint64 { return &c.RxNotMKPDU },
		},
		"EAPOL-Start": {
			frame:   func(l *lab) []byte { f := encode(asKeyServer(l, 1, nil), ick); f[15] = 1; return f },
			counter: func(c *Counters) *uint64 { return &c.RxNotMKPDU },
		},
		"bad length": {
			frame: func(l *lab) []byte {
				f := encode(asKeyServer(l, 1, nil), ick)
				binary.BigEndian.PutUint16(f[16:], uint16(len(f)))
				return f
			},
			counter: func(c *Counters) *uint64 { return &c.RxMalformed },
		},
		"truncated": {
			frame:   func(l *lab) []byte { f := encode(asKeyServer(l, 1, nil), ick); return f[:30] },
			counter: func(c *Counters) *uint64 { return &c.RxMalformed },
		},
		"unknown CKN": {
			frame:   func(l *lab) []byte { return encode(asKeyServer(l, 1, func(m *MKPDU) { m.CKN = CKN{1, 2} }), ick) },
			counter: func(c *Counters) *uint64 { return &c.RxUnknownCKN },
		},
		"bad agility": {
			frame: func(l *lab) []byte {
				return encode(asKeyServer(l, 1, func(m *MKPDU) { m.AlgorithmAgility = 0x0080C202 }), ick)
			},
			counter: func(c *Counters) *uint64 { return &c.RxBadAgility },
		},
		"bad ICV (other CAK)": {
			frame:   func(l *lab) []byte { return encode(asKeyServer(l, 1, nil), otherICK) },
			counter: func(c *Counters) *uint64 { return &c.RxBadICV },
		},
		"bad ICV (altered)": {
			frame:   func(l *lab) []byte { f := encode(asKeyServer(l, 1, nil), ick); f[30] ^= 1; return f },
			counter: func(c *Counters) *uint64 { return &c.RxBadICV },
		},
		"stale MN": {
			frame:   func(l *lab) []byte { return encode(asKeyServer(l, 0, nil), ick) },
			counter: func(c *Counters) *uint64 { return &c.RxStaleMN },
		},
		"own MI": {
			frame: func(l *lab) []byte {
				sb := l.b.p.Status()
				return encode(asKeyServer(l, 1, func(m *MKPDU) { m.MI, m.SCI = sb.MI, l.b.sci }), ick)
			},
			counter: func(c *Counters) *uint64 { return &c.RxOwnMI },
		},
		"SAK does not unwrap": {
			frame: func(l *lab) []byte {
				return encode(asKeyServer(l, 1, func(m *MKPDU) {
					m.HasDistributedSAK = true
					m.DistributedSAK = DistributedSAK{AN: 1, KN: 9, CipherSuite: suite, WrappedSAK: make([]byte, 24)}
				}), ick)
			},
			counter: func(c *Counters) *uint64 { return &c.RxBadSAK },
		},
		"SAK for another suite": {
			frame: func(l *lab) []byte {
				return encode(asKeyServer(l, 1, func(m *MKPDU) {
					m.HasDistributedSAK = true
					m.DistributedSAK = DistributedSAK{AN: 1, KN: 9, CipherSuite: macsec.GCMAES128, WrappedSAK: wrapped}
				}), ick)
			},
			counter: func(c *Counters) *uint64 { return &c.RxBadCipherSuite },
		},
	} {
		t.Run(name, func(t *testing.T) {
			o := nodeOpts{psk: psk, priority: 16}
			l := newLab(t, suite, o, o)
			l.advance(100*time.Millisecond, 0, nil)
			require.True(t, l.up())
			before := l.b.p.Counters()
			st := l.b.p.Status()
			var f []byte
			require.NotPanics(t, func() { f = tc.frame(l) })
			l.b.p.Receive(l.now, f)
			after := l.b.p.Counters()
			want := before
			*tc.counter(&want)++
			if name == "SAK does not unwrap" || name == "SAK for another suite" {
				want.RxMKPDUs++ // the MKPDU itself is valid
			}
			after.TxMKPDUs = want.TxMKPDUs // a valid MKPDU may prompt a reply
			assert.Equal(t, want, after)
			st2 := l.b.p.Status()
			assert.Equal(t, st.Latest, st2.Latest, "the key in use did not change")
			assert.True(t, st2.Secured)
		})
	}
}

var l0mac = [6]byte{0x02, 0, 0, 0, 0, 0x0A}

func net2(b [6]byte) []byte { return b[:] }

// TestElection: lowest priority wins, then lowest SCI; 0xFF never.
func TestElection(t *testing.T) {
	suite := macsec.GCMAES256
	psk := testPSK(t, cknHex, cak256, suite)
	for name, tc := range map[string]struct {
		pa, pb uint8
		ks     string // "a", "b" or "" (none)
	}{
		"lower priority b":    {pa: 20, pb: 10, ks: "b"},
		"lower priority a":    {pa: 0, pb: 1, ks: "a"},
		"tie, lower SCI":      {pa: 16, pb: 16, ks: "a"},
		"a never":             {pa: NeverKeyServer, pb: 200, ks: "b"},
		"neither: no MACsec":  {pa: NeverKeyServer, pb: NeverKeyServer, ks: ""},
		"b never despite SCI": {pa: 254, pb: NeverKeyServer, ks: "a"},
	} {
		t.Run(name, func(t *testing.T) {
			l := newLab(t, suite, nodeOpts{psk: psk, priority: tc.pa}, nodeOpts{psk: psk, priority: tc.pb})
			l.advance(3*time.Second, 0, nil)
			sa, sb := l.a.p.Status(), l.b.p.Status()
			require.Len(t, sa.Peers, 1)
			assert.True(t, sa.Peers[0].Live)
			assert.Equal(t, tc.ks == "a", sa.KeyServer)
			assert.Equal(t, tc.ks == "b", sb.KeyServer)
			assert.Equal(t, tc.ks != "", l.up())
			if tc.ks == "" {
				assert.False(t, sa.KeyServerElected)
				assert.Zero(t, l.a.p.Counters().SAKsInstalled)
				return
			}
			ks := map[string]*node{"a": l.a, "b": l.b}[tc.ks]
			assert.Equal(t, ks.sci, sa.KeyServerSCI)
			assert.Equal(t, ks.sci, sb.KeyServerSCI)
		})
	}
}

// TestPeerLifetime: a peer that falls silent is dropped after the life
// time and the SAs go with it; hello and life times are configurable.
func TestPeerLifetime(t *testing.T) {
	suite := macsec.GCMAES128
	o := nodeOpts{psk: testPSK(t, cknHex, cak128, suite), priority: 1, hello: 500 * time.Millisecond, life: 1500 * time.Millisecond}
	l := newLab(t, suite, o, o)
	l.advance(5*time.Second, 0, nil)
	require.True(t, l.up())
	assert.InDelta(t, 11, l.a.p.Counters().TxMKPDUs, 3, "a hello every 500 ms")
	l.b.p.Stop()
	stop := l.now
	for l.a.p.Status().Secured {
		l.advance(step, 0, nil)
	}
	assert.LessOrEqual(t, l.now.Sub(stop), 1500*time.Millisecond)
	assert.Empty(t, l.a.p.Status().Peers)
	assert.Empty(t, l.a.secy.Status().RxSCs)
	assert.Empty(t, l.a.secy.Status().TxSC.SAs)
	assert.Equal(t, uint64(1), l.a.p.Counters().PeersExpired)
}

func TestNewParticipantErrors(t *testing.T) {
	suite := macsec.GCMAES128
	psk := testPSK(t, cknHex, cak128, suite)
	y, err := macsec.New(macsec.Config{Suite: suite, SCI: 0x020000000001_0001})
	require.NoError(t, err)
	good := Config{PSK: psk, Suite: suite, SCI: 0x020000000001_0001, Rand: newTestRand(1), Send: func([]byte) {}, SecY: y}
	_, err = NewParticipant(good)
	require.NoError(t, err)
	for name, edit := range map[string]func(c *Config){
		"suite":    func(c *Config) { c.Suite = 0 },
		"no CAK":   func(c *Config) { c.PSK.CAK = CAK{} },
		"no CKN":   func(c *Config) { c.PSK.CKN = nil },
		"no rand":  func(c *Config) { c.Rand = nil },
		"bad rand": func(c *Config) { c.Rand = eofReader{} },
		"no send":  func(c *Config) { c.Send = nil },
		"no SecY":  func(c *Config) { c.SecY = nil },
		"life":     func(c *Config) { c.HelloTime, c.LifeTime = 2*time.Second, time.Second },
	} {
		c := good
		edit(&c)
		_, err := NewParticipant(c)
		assert.Error(t, err, name)
	}
}

func TestCountersListEveryField(t *testing.T) {
	countertest.Check(t, Counters.Counters)
}
