package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/bench"
)

func runBench(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"bench", "suites"}, args...))
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func TestBenchSuitesJSON(t *testing.T) {
	out, _, err := runBench(t, "--suites", "GcmAes256", "--sizes", "512", "--cores", "1", "--duration", "50ms", "--json", "--no-progress")
	require.NoError(t, err)
	var rep bench.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, bench.Schema, rep.Schema)
	require.Len(t, rep.Results, 1)
	r := rep.Results[0]
	require.Equal(t, "GCM-AES-256", r.Suite)
	require.Equal(t, 512, r.Size)
	require.Positive(t, r.Protect.Gbps)
	require.Positive(t, r.Validate.Mfps)
	// A sanity bound (units, a swapped pair), not a performance test: 50 ms
	// runs under -race on a loaded machine swing widely.
	require.True(t, r.ProtectRatio > 0.05 && r.ProtectRatio < 20, "protect ratio %v", r.ProtectRatio)
	require.True(t, r.ValidateRatio > 0.05 && r.ValidateRatio < 20, "validate ratio %v", r.ValidateRatio)
}

func TestBenchSuitesTableAndProgress(t *testing.T) {
	out, errOut, err := runBench(t, "--suites", "gcm-aes-xpn-128", "--sizes", "64", "--cores", "1", "--duration", "50ms", "--progress")
	require.NoError(t, err)
	require.Contains(t, out, "GOMAXPROCS")
	require.Contains(t, out, "GCM-AES-XPN-128")
	require.Contains(t, errOut, "1/1 GCM-AES-XPN-128 64 B ×1")
	require.NotContains(t, out, "ETA", "the progress bar goes to stderr only")

	out, _, err = runBench(t, "--suites", "gcm-aes-128", "--sizes", "64", "--cores", "1", "--duration", "50ms", "--batch", "1", "--no-progress")
	require.NoError(t, err)
	require.Contains(t, out, "Protect/Validate frame by frame (batch 1)")
}

func TestBenchSuitesHelpSaysHowLong(t *testing.T) {
	out, _, err := runBench(t, "--help")
	require.NoError(t, err)
	require.Regexp(t, `default run here is \d+ points .* about \d+s`, out)
}

func TestBenchSuitesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--suites", "GCM-AES-512"}, "--suites"},
		{[]string{"--suites", ""}, "--suites"},
		{[]string{"--sizes", "59"}, "--sizes 59"},
		{[]string{"--sizes", "9217"}, "--sizes 9217"},
		{[]string{"--sizes", "big"}, "--sizes"},
		{[]string{"--cores", "0"}, "--cores 0"},
		{[]string{"--cores", "100000"}, "--cores 100000"},
		{[]string{"--duration", "1ms"}, "--duration"},
		{[]string{"--batch", "0"}, "--batch 0"},
		{[]string{"--batch", "257"}, "--batch 257"},
		{[]string{"--progress", "--no-progress"}, "--progress"},
		{[]string{"--frobnicate"}, "--frobnicate"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, err := runBench(t, tc.args...)
			require.ErrorContains(t, err, tc.want)
			var ue *usageError
			require.True(t, errors.As(err, &ue), "%v must exit with status 2", err)
		})
	}
}

func TestBenchSuitesDefaults(t *testing.T) {
	cmd := newBenchSuitesCmd()
	require.Equal(t, "[GCM-AES-128,GCM-AES-256,GCM-AES-XPN-128,GCM-AES-XPN-256]", cmd.Flag("suites").DefValue)
	require.Equal(t, "[64,512,1500,9000]", cmd.Flag("sizes").DefValue)
	require.Equal(t, "32", cmd.Flag("batch").DefValue)
	cores := bench.DefaultCores()
	require.Equal(t, "1", strconv.Itoa(cores[0]))
	require.Contains(t, cmd.Flag("cores").DefValue, strconv.Itoa(cores[len(cores)-1]))
}
