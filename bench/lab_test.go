package bench

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLabRatiosRunByRun(t *testing.T) {
	results := []LabResult{
		{Path: "macsec", Gbps: []float64{4, 6, 3}, Retransmits: []int{0, 0, 0}},
		{Path: "veth", Gbps: []float64{20, 20, 20}, Retransmits: []int{1, 2, 3}},
		{Path: "wireguard-go", Anchor: true, Gbps: []float64{2, 2, 3}, Retransmits: []int{0, 0, 0}},
	}
	r := labRatios(results)
	require.Len(t, r, 2, "each secylab path against each anchor, not anchor against anchor")
	require.Equal(t, "macsec", r[0].Path)
	require.Equal(t, "wireguard-go", r[0].Anchor)
	require.Equal(t, []float64{2, 3, 1}, r[0].Ratios, "ratios are taken within a run")
	require.Equal(t, 2.0, r[0].Median, "the median of the per-run ratios, not the ratio of the medians (2)")
	require.Equal(t, []float64{10, 10, 20.0 / 3}, r[1].Ratios)
	require.Equal(t, []float64{4, 6, 3}, results[0].Gbps, "the runs stay in their order")

	var out bytes.Buffer
	WriteLabTable(&out, &LabReport{Runs: 3, Duration: "5s", Load: []float64{0.1, 2.05, 2.1, 2.2}, Results: results, Ratios: r, Notes: []string{"strongswan: left out"}})
	require.Contains(t, out.String(), "before the runs and after each: 0.10 2.05 2.10 2.20")
	require.Regexp(t, `macsec\s+wireguard-go\s+2\.00\s+2\.00 3\.00 1\.00`, out.String())
	require.Contains(t, out.String(), "note: strongswan: left out")
}
