package topology

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseUnits(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
	}{{"100Mbit", 100e6}, {"1gbit", 1e9}, {"1.5Gbit", 1.5e9}, {"512kbit", 512e3}, {"64bit", 64}, {"1Tbit", 1e12}} {
		got, err := ParseRate(tt.in)
		assert.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
	for _, bad := range []string{"", "100", "100MB", "0Mbit", "-1Mbit", "Mbit", "100mbps"} {
		_, err := ParseRate(bad)
		assert.Error(t, err, bad)
	}
	assert.Equal(t, "100Mbit", FormatRate(100e6))
	assert.Equal(t, "1.5Gbit", FormatRate(1.5e9))
	assert.Equal(t, "999bit", FormatRate(999))

	for in, want := range map[string]float64{"1%": 1, "0.5%": 0.5, "0%": 0, "100%": 100, " 2 % ": 2} {
		got, err := ParseLoss(in)
		assert.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"1", "101%", "-1%", "x%", "%", "NaN%"} {
		_, err := ParseLoss(bad)
		assert.Error(t, err, bad)
	}

	d, err := ParseDuration("5ms")
	assert.NoError(t, err)
	assert.Equal(t, 5*time.Millisecond, d)
	_, err = ParseDuration("-1s")
	assert.Error(t, err)
}

func TestNames(t *testing.T) {
	assert.Equal(t, "sl-er.ce1", NamespaceName("er", "ce1"))
	assert.NoError(t, CheckLabName("er-2"))
	assert.Error(t, CheckLabName("er_2"))
	assert.Error(t, CheckLabName("2er"))
}
