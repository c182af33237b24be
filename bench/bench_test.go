package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/macsec"
)

func tinyConfig() Config {
	return Config{
		Suites:   []macsec.CipherSuite{macsec.GCMAESXPN128},
		Sizes:    []int{1500},
		Cores:    []int{1},
		Duration: 50 * time.Millisecond,
	}
}

func TestRunTiny(t *testing.T) {
	cfg := tinyConfig()
	var last Progress
	calls := 0
	cfg.Progress = func(p Progress) { last = p; calls++ }
	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.Positive(t, calls)
	require.Equal(t, Progress{Done: 1, Total: 1, Fraction: 1, Elapsed: last.Elapsed}, last)

	require.Len(t, rep.Results, 1)
	r := rep.Results[0]
	require.Equal(t, "GCM-AES-XPN-128", r.Suite)
	require.Equal(t, 1500, r.Size)
	require.Equal(t, 1, r.Cores)
	for name, rate := range map[string]Rate{"protect": r.Protect, "bare seal": r.BareSeal, "validate": r.Validate, "bare open": r.BareOpen} {
		require.Positive(t, rate.Frames, name)
		require.Positive(t, rate.Gbps, name)
		require.Positive(t, rate.Mfps, name)
		require.Positive(t, rate.MeanGbps, name)
		require.InDelta(t, rate.Gbps, rate.Mfps*1500*8/1e3, rate.Gbps*1e-9, name)
	}
	for name, ratio := range map[string]float64{"protect": r.ProtectRatio, "validate": r.ValidateRatio} {
		require.True(t, ratio > 0.2 && ratio < 5, "%s ratio %v", name, ratio)
	}
	require.Equal(t, runtime.GOMAXPROCS(0), rep.Machine.GOMAXPROCS)
	require.NotEmpty(t, rep.Machine.CPUModel)
	require.Equal(t, runtime.Version(), rep.Machine.GoVersion)
}

func TestReportJSONAndTable(t *testing.T) {
	rep, err := Run(context.Background(), tinyConfig())
	require.NoError(t, err)

	var buf bytes.Buffer
	require.NoError(t, rep.WriteJSON(&buf))
	var back Report
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	require.Equal(t, Schema, back.Schema)
	require.Equal(t, rep.Results, back.Results)
	// The field names are the schema: scripts read them.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &raw))
	res := raw["results"].([]any)[0].(map[string]any)
	for _, k := range []string{"suite", "suite_id", "frame_octets", "cores", "protect", "bare_seal", "protect_ratio", "validate", "bare_open", "validate_ratio", "alloc_free"} {
		require.Contains(t, res, k)
	}
	for _, k := range []string{"frames", "seconds", "gbit_per_s", "mframes_per_s", "mean_gbit_per_s", "allocs_per_frame", "run_allocs_per_frame"} {
		require.Contains(t, res["protect"], k)
	}
	require.Equal(t, float64(DefaultBatch), raw["batch_frames"])
	for _, k := range []string{"cpu_model", "num_cpu", "gomaxprocs", "go_version"} {
		require.Contains(t, raw["machine"], k)
	}

	buf.Reset()
	require.NoError(t, rep.WriteTable(&buf))
	out := buf.String()
	require.Contains(t, out, "GOMAXPROCS")
	require.Contains(t, out, "protect Gbit/s")
	require.Contains(t, out, "GCM-AES-XPN-128")
	require.Contains(t, out, "allocs/frame")
	require.Contains(t, out, "ProtectBatch/ValidateBatch of 32 frames per call")
}

func TestAllocationFlag(t *testing.T) {
	rep := &Report{Results: []Result{{Suite: "GCM-AES-128", Size: 64, Cores: 1, Protect: Rate{AllocsPerFrame: 1}}}}
	var buf bytes.Buffer
	require.NoError(t, rep.WriteTable(&buf))
	require.Contains(t, buf.String(), "1/0 !")
	require.Contains(t, buf.String(), "allocated")
}

func TestConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"no suite":    {func(c *Config) { c.Suites = nil }, "at least one suite"},
		"bad suite":   {func(c *Config) { c.Suites = []macsec.CipherSuite{7} }, "cipher suite"},
		"small frame": {func(c *Config) { c.Sizes = []int{59} }, "frame size 59"},
		"big frame":   {func(c *Config) { c.Sizes = []int{9217} }, "frame size 9217"},
		"no cores":    {func(c *Config) { c.Cores = []int{0} }, "core count 0"},
		"many cores":  {func(c *Config) { c.Cores = []int{runtime.GOMAXPROCS(0) + 1} }, "GOMAXPROCS"},
		"duration":    {func(c *Config) { c.Duration = 0 }, "duration"},
		"batch":       {func(c *Config) { c.Batch = MaxBatch + 1 }, "batch 257"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := tinyConfig()
			tc.edit(&cfg)
			_, err := Run(context.Background(), cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, tinyConfig())
	require.ErrorIs(t, err, context.Canceled)
}

// A broken engine must not get a number: the checks in the loops and the
// cross-check with the standard library catch it.
func TestBrokenFramesAreCaught(t *testing.T) {
	for _, tc := range []struct {
		suite macsec.CipherSuite
		batch int
	}{{macsec.GCMAES128, 1}, {macsec.GCMAES256, DefaultBatch}, {macsec.GCMAESXPN128, 1}, {macsec.GCMAESXPN256, 7}} {
		suite := tc.suite
		t.Run(fmt.Sprintf("%s/batch %d", suite, tc.batch), func(t *testing.T) {
			w, err := newWorker(suite, 64, tc.batch, 0, nil)
			require.NoError(t, err)
			w.deadline = time.Now().Add(time.Hour)
			want := uint64((ringLen + tc.batch - 1) / tc.batch * tc.batch) // whole batches
			for o := range op(numOps) {
				require.Equal(t, want, w.exec(o, ringLen), opNames[o])
				require.NoError(t, w.err, opNames[o])
			}

			require.NoError(t, w.refill())
			w.vring[3][40] ^= 1
			w.exec(opValidate, ringLen)
			require.ErrorContains(t, w.err, "validate: frame 3")

			w.oring[5][40] ^= 1
			w.exec(opOpen, ringLen)
			require.ErrorContains(t, w.err, "bare open: frame 5")

			w.key.Salt[0] ^= 1 // the IV the engine must have used changes
			w.sci++
			require.ErrorContains(t, w.crossCheck(), "cross-check")
		})
	}
}

func TestCPUInfo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpuinfo")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join([]string{
		"processor\t: 0",
		"model name\t: AMD EPYC",
		"flags\t\t: fpu sse2 aes avx2 pclmulqdq vaes",
		"",
		"processor\t: 1",
		"model name\t: other",
	}, "\n")), 0o600))
	model, flags := cpuInfo(path)
	require.Equal(t, "AMD EPYC", model)
	require.Equal(t, []string{"aes", "pclmulqdq", "vaes", "avx2"}, flags)

	model, flags = cpuInfo(filepath.Join(t.TempDir(), "missing"))
	require.Empty(t, model)
	require.Empty(t, flags)
}

func TestDefaultCores(t *testing.T) {
	cores := DefaultCores()
	require.Equal(t, 1, cores[0])
	require.Equal(t, runtime.GOMAXPROCS(0), cores[len(cores)-1])
}
