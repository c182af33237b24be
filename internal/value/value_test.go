package value

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/yamlx"
	"github.com/secylab/secylab/macsec"
)

func TestSwitch(t *testing.T) {
	for in, want := range map[string]Switch{"Enabled": true, "enabled": true, "ENABLED": true, "on": true, "On": true, "true": true,
		"Disabled": false, "disabled": false, "off": false, "OFF": false, "false": false} {
		got, err := ParseSwitch(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "Enabeld", "yes", "1", "enable"} {
		_, err := ParseSwitch(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "Enabled or Disabled (on or off)", bad)
	}
	b, _ := json.Marshal(Switch(true))
	assert.Equal(t, `"Enabled"`, string(b))
	var s Switch
	require.NoError(t, json.Unmarshal([]byte(`"off"`), &s))
	assert.False(t, bool(s))
	assert.Error(t, json.Unmarshal([]byte(`"maybe"`), &s))
}

func TestEnum(t *testing.T) {
	v, err := Enum("WIRE", "wire", "clear")
	require.NoError(t, err)
	assert.Equal(t, "wire", v)
	_, err = Enum("both", "wire", "clear")
	assert.EqualError(t, err, `"both": want wire or clear`)
}

func TestCipher(t *testing.T) {
	for _, in := range []string{"GcmAesXpn256", "gcmaesxpn256", "GCM-AES-XPN-256"} {
		c, err := ParseCipher(in)
		require.NoError(t, err, in)
		assert.Equal(t, macsec.GCMAESXPN256, c.Suite())
		assert.Equal(t, "GcmAesXpn256", c.String())
	}
	_, err := ParseCipher("GcmAes512")
	assert.ErrorContains(t, err, "GcmAes128, GcmAes256, GcmAesXpn128 or GcmAesXpn256")
}

func TestRate(t *testing.T) {
	for in, want := range map[string]Rate{"100Mbit": 100e6, "1gbit": 1e9, "1.5Gbit": 1.5e9, "512kbit": 512e3, "1Tbit": 1e12, "1kbit": 1e3, "unlimited": 0, "Unlimited": 0} {
		got, err := ParseRate(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "0", "100", "100MB", "0Mbit", "-1Mbit", "Mbit", "100mbps", "1bit", "999bit", "2Tbit"} {
		_, err := ParseRate(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "1kbit to 1Tbit", bad)
	}
	assert.Equal(t, "100Mbit", Rate(100e6).String())
	assert.Equal(t, "1.5Gbit", Rate(1.5e9).String())
	assert.Equal(t, "1.999kbit", Rate(1999).String())
	assert.Equal(t, "unlimited", Rate(0).String())
}

func TestLoss(t *testing.T) {
	for in, want := range map[string]Loss{"1%": 0.01, "0.5%": 0.005, "0%": 0, "100%": 1, " 2 % ": 0.02} {
		got, err := ParseLoss(in)
		require.NoError(t, err, in)
		assert.InDelta(t, float64(want), float64(got), 1e-12, in)
	}
	for _, bad := range []string{"1", "101%", "-1%", "x%", "%", "NaN%"} {
		_, err := ParseLoss(bad)
		assert.Error(t, err, bad)
	}
	assert.Equal(t, "1%", Loss(0.01).String())
}

func TestDuration(t *testing.T) {
	d, err := ParseDuration("5ms")
	require.NoError(t, err)
	assert.Equal(t, 5*time.Millisecond, d)
	_, err = ParseDuration("-1s")
	assert.Error(t, err)
	var v time.Duration
	f := DurationFlag{P: &v, Range: Range{Min: time.Millisecond, Max: time.Minute}}
	require.NoError(t, f.Set("2s"))
	assert.Equal(t, 2*time.Second, v)
	for _, bad := range []string{"0s", "-1s", "1000h", "x"} {
		assert.Error(t, f.Set(bad), bad)
	}
	assert.EqualError(t, f.Set("2m"), "2m0s is out of range: want 1ms to 1m0s")
}

func TestKeySource(t *testing.T) {
	k, err := ParseKeySource("generate:cak-2")
	require.NoError(t, err)
	assert.Equal(t, KeySource{Generate: "cak-2"}, k)
	for _, bad := range []string{"generate:../x", "generate:../../../../tmp/x/travkey", "generate:", "generate:a/b", "generate:A", "generate:x.psk", ""} {
		_, err := ParseKeySource(bad)
		assert.Error(t, err, bad)
	}
	k, err = ParseKeySource("rel/k.psk")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(k.File, "/"), k.File)
}

// A refusal of a value in YAML names the file, the line and the field.
func TestYAMLRefusalHasLine(t *testing.T) {
	var v struct {
		A struct {
			SCI  Switch `json:"sci"`
			Rate Rate   `json:"rate"`
		} `json:"a"`
	}
	_, err := yamlx.Decode("f.yaml", []byte("a:\n  sci: Enabeld\n"), &v)
	assert.EqualError(t, err, `f.yaml:2: a.sci: "Enabeld": want Enabled or Disabled (on or off)`)
	_, err = yamlx.Decode("f.yaml", []byte("a:\n  rate: 0\n"), &v)
	assert.ErrorContains(t, err, `f.yaml:2: a.rate: "0" is not a rate`)
	_, err = yamlx.Decode("f.yaml", []byte("a:\n  sci: enabled\n  rate: 10Mbit\n"), &v)
	require.NoError(t, err)
	assert.True(t, bool(v.A.SCI))
	assert.Equal(t, Rate(10e6), v.A.Rate)
}
