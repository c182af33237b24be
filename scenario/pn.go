package scenario

import (
	"fmt"
	"math"
	"time"
)

// PNExhaustion is how long an SA's packet numbers last at a line rate.
type PNExhaustion struct {
	Gbps       float64
	FrameBytes int           // Ethernet frame, FCS included
	FramesPerS float64       // with preamble, SFD and inter-frame gap (20 octets)
	PN32       time.Duration // 2^32 − 1 packet numbers (GcmAes128/256)
	PN64Years  float64       // 2^64 − 1 (GcmAesXpn128/256)
}

// PNExhaustionTable computes the time to exhaust the packet numbers of one
// SA at 10, 100 and 400 Gbit/s, for minimum-size and 1518-octet frames: why
// Azure recommends the XPN suites on fast links.
func PNExhaustionTable() []PNExhaustion {
	var t []PNExhaustion
	for _, gbps := range []float64{10, 100, 400} {
		for _, size := range []int{64, 1518} {
			fps := gbps * 1e9 / float64((size+20)*8)
			t = append(t, PNExhaustion{
				Gbps: gbps, FrameBytes: size, FramesPerS: fps,
				PN32:      time.Duration(float64(math.MaxUint32) / fps * float64(time.Second)),
				PN64Years: float64(math.MaxUint64) / fps / (365.25 * 24 * 3600),
			})
		}
	}
	return t
}

func pnTableLines() []string {
	var lines []string
	for _, e := range PNExhaustionTable() {
		lines = append(lines, fmt.Sprintf("at %g Gbit/s with %d-octet frames (%.1f Mframes/s): GcmAes128/256 exhaust 2^32 packet numbers in %v (MKA must rekey before that; at the 0xC0000000 threshold, after %v); GcmAesXpn128/256 in %.0f years",
			e.Gbps, e.FrameBytes, e.FramesPerS/1e6, e.PN32.Round(100*time.Millisecond), (e.PN32*3/4).Round(100*time.Millisecond), e.PN64Years))
	}
	return lines
}
