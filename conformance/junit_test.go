package conformance

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/secylab/secylab/internal/junit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteJUnit(t *testing.T) {
	rs := []Result{
		{Suite: "macsec", Case: "gcm-aes-128", Status: Pass, Duration: 1500 * time.Millisecond, Detail: "ping ok"},
		{Suite: "macsec", Case: "wrong-key", Status: Fail, Duration: 500 * time.Millisecond, Detail: "delivered <3> frames\nmore"},
		{Suite: "mka", Case: "gcm-aes-256", Status: Skip, Detail: "no csindex"},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteJUnit(&buf, "vm 6.1.0", rs))
	assert.True(t, strings.HasPrefix(buf.String(), "<?xml"))

	var got junit.Suites
	require.NoError(t, xml.Unmarshal(buf.Bytes(), &got))
	assert.Equal(t, 3, got.Tests)
	assert.Equal(t, 1, got.Failures)
	assert.Equal(t, 1, got.Skipped)
	assert.Equal(t, "2.000", got.Time)
	require.Len(t, got.Suites, 2)
	ms := got.Suites[0]
	assert.Equal(t, "macsec", ms.Name)
	assert.Equal(t, 2, ms.Tests)
	assert.Equal(t, "2.000", ms.Time)
	assert.Equal(t, "conformance.macsec (vm 6.1.0)", ms.Cases[0].Classname)
	assert.Nil(t, ms.Cases[0].Failure)
	require.NotNil(t, ms.Cases[1].Failure)
	assert.Equal(t, "delivered <3> frames", ms.Cases[1].Failure.Message)
	assert.Equal(t, "delivered <3> frames\nmore", ms.Cases[1].Failure.Text)
	require.NotNil(t, got.Suites[1].Cases[0].Skipped)
}

func TestAllPassedAndTable(t *testing.T) {
	assert.False(t, AllPassed(nil), "no results is not a pass")
	assert.True(t, AllPassed([]Result{{Status: Pass}}))
	assert.False(t, AllPassed([]Result{{Status: Pass}, {Status: Skip}}))
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, []Result{{Suite: "macsec", Case: "x", Status: Pass, Duration: time.Second, Detail: "a\nb"}}))
	assert.Contains(t, buf.String(), "macsec/x")
	assert.Contains(t, buf.String(), "a | b")
	assert.Contains(t, buf.String(), "1/1 passed")
}

func TestParseSuites(t *testing.T) {
	s, err := ParseSuites([]string{"ipsec,macsec", "macsec"})
	require.NoError(t, err)
	assert.Equal(t, []string{"macsec", "ipsec"}, s)
	s, err = ParseSuites(nil)
	require.NoError(t, err)
	assert.Equal(t, Suites, s)
	_, err = ParseSuites([]string{"wifi"})
	assert.ErrorContains(t, err, "unknown suite")
}
