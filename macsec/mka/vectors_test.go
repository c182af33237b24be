package mka

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vector is one entry of testdata/mka-vectors.json.
type vector struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	KeyHex     string `json:"key_hex"`
	MessageHex string `json:"message_hex"`
	LabelHex   string `json:"label_hex"`
	ContextHex string `json:"context_hex"`
	LengthBits int    `json:"length_bits"`
	CAKHex     string `json:"cak_hex"`
	CKNHex     string `json:"ckn_hex"`
	KSNonceHex string `json:"ks_nonce_hex"`
	MIListHex  string `json:"mi_list_hex"`
	KN         uint32 `json:"kn"`
	KEKHex     string `json:"kek_hex"`
	KeyDataHex string `json:"key_data_hex"`
	Expected   string `json:"expected_hex"`
	Verified   bool   `json:"verified"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	data, err := os.ReadFile("../../testdata/mka-vectors.json")
	require.NoError(t, err)
	var vs []vector
	require.NoError(t, json.Unmarshal(data, &vs))
	require.NotEmpty(t, vs)
	return vs
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err, "hex %q", s)
	return b
}

// TestVectors reproduces every entry of mka-vectors.json.
func TestVectors(t *testing.T) {
	kinds := map[string]int{}
	for _, v := range loadVectors(t) {
		kinds[v.Kind]++
		t.Run(v.Name, func(t *testing.T) {
			require.True(t, v.Verified, "only verified vectors are in the file")
			want := unhex(t, v.Expected)
			var got []byte
			var err error
			switch v.Kind {
			case "aes-cmac":
				got, err = CMAC(unhex(t, v.KeyHex), unhex(t, v.MessageHex))
			case "kdf":
				got, err = KDF(unhex(t, v.KeyHex), string(unhex(t, v.LabelHex)), unhex(t, v.ContextHex), v.LengthBits)
			case "ick", "kek":
				cak, cerr := NewCAK(unhex(t, v.CAKHex))
				require.NoError(t, cerr)
				require.Equal(t, v.LengthBits, 8*cak.Len())
				var k secret
				if v.Kind == "ick" {
					var ick ICK
					ick, err = DeriveICK(cak, CKN(unhex(t, v.CKNHex)))
					k = ick.secret
				} else {
					var kek KEK
					kek, err = DeriveKEK(cak, CKN(unhex(t, v.CKNHex)))
					k = kek.secret
				}
				got = k.Bytes()
			case "sak":
				cak, cerr := NewCAK(unhex(t, v.CAKHex))
				require.NoError(t, cerr)
				list := unhex(t, v.MIListHex)
				require.Zero(t, len(list)%len(MI{}))
				var mis []MI
				for ; len(list) > 0; list = list[len(MI{}):] {
					mis = append(mis, MI(list))
				}
				var sak SAK
				sak, err = DeriveSAK(cak, unhex(t, v.KSNonceHex), mis, v.KN, v.LengthBits/8)
				got = sak.Bytes()
			case "aes-key-wrap":
				kek, data := unhex(t, v.KEKHex), unhex(t, v.KeyDataHex)
				got, err = Wrap(kek, data)
				require.NoError(t, err)
				back, uerr := Unwrap(kek, got)
				require.NoError(t, uerr)
				assert.Equal(t, data, back, "unwrap(wrap(x)) = x")
			default:
				t.Fatalf("unknown vector kind %q", v.Kind)
			}
			require.NoError(t, err)
			assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
		})
	}
	for _, k := range []string{"aes-cmac", "kdf", "kek", "ick", "sak", "aes-key-wrap"} {
		assert.NotZero(t, kinds[k], "no %s vectors", k)
	}
}

func TestUnwrapRejectsTampering(t *testing.T) {
	kek := unhex(t, "000102030405060708090A0B0C0D0E0F")
	w, err := Wrap(kek, unhex(t, "00112233445566778899AABBCCDDEEFF"))
	require.NoError(t, err)
	for i := range w {
		bad := append([]byte(nil), w...)
		bad[i] ^= 0x01
		_, err := Unwrap(kek, bad)
		require.ErrorIs(t, err, ErrUnwrap, "flipped bit in octet %d", i)
	}
	_, err = Unwrap(kek, w[:16])
	require.Error(t, err)
	_, err = Wrap(kek, make([]byte, 12))
	require.Error(t, err)
}

// TestCMACStreaming checks that splitting the message into parts, at every
// offset, gives the same tag as the whole.
func TestCMACStreaming(t *testing.T) {
	c, err := newCMAC(unhex(t, "2B7E151628AED2A6ABF7158809CF4F3C"))
	require.NoError(t, err)
	msg := unhex(t, "6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E5130C81C46A35CE411E5FBC1191A0A52EFF69F2445DF4F9B17AD2B417BE66C3710")
	for n := 0; n <= len(msg); n++ {
		whole := c.sum(msg[:n])
		for i := 0; i <= n; i++ {
			require.Equal(t, whole, c.sum(msg[:i], nil, msg[i:n]), "len %d split %d", n, i)
		}
	}
}

func TestCMACAllocs(t *testing.T) {
	c, err := newCMAC(make([]byte, 16))
	require.NoError(t, err)
	msg := make([]byte, 200)
	allocs := testing.AllocsPerRun(100, func() { _ = c.sum(msg) })
	assert.Zero(t, allocs)
}

func TestKDFLengthErrors(t *testing.T) {
	for _, bits := range []int{0, -8, 7, 1 << 16} {
		_, err := KDF(make([]byte, 16), "x", nil, bits)
		assert.Error(t, err, "%d bits", bits)
	}
}

func TestGenerateSAK(t *testing.T) {
	sak, err := GenerateSAK(newTestRand(1), 32)
	require.NoError(t, err)
	assert.Equal(t, 32, sak.Len())
	assert.False(t, sak.IsZero())
	_, err = GenerateSAK(eofReader{}, 16)
	assert.Error(t, err)
	_, err = GenerateSAK(nil, 16)
	assert.Error(t, err)
}
