package topology

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a non-negative Go duration such as "5ms" or "1.5s".
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration: want a non-negative number with a unit, e.g. 5ms, 200us, 1s", s)
	}
	return d, nil
}

// ParseLoss parses a loss percentage such as "1%" or "0.5%" into 0..100.
func ParseLoss(s string) (float64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !ok || err != nil || math.IsNaN(v) || v < 0 || v > 100 {
		return 0, fmt.Errorf("%q is not a loss percentage: want 0%% to 100%%, e.g. 1%% or 0.5%%", s)
	}
	return v, nil
}

var rateUnits = []struct {
	suffix string
	mult   float64
}{
	// Longest first so that "kbit" is not read as "bit".
	{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
}

// ParseRate parses a bit rate in tc's units (bit, kbit, mbit, gbit, tbit;
// case does not matter), e.g. "100Mbit", into bits per second.
func ParseRate(s string) (uint64, error) {
	low := strings.ToLower(strings.TrimSpace(s))
	for _, u := range rateUnits {
		num, ok := strings.CutSuffix(low, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		bps := v * u.mult
		if err != nil || math.IsNaN(v) || bps < 1 || bps > math.MaxInt64 {
			break
		}
		return uint64(bps), nil
	}
	return 0, fmt.Errorf("%q is not a rate: want a positive number with a unit bit, kbit, Mbit, Gbit or Tbit, e.g. 100Mbit", s)
}

// FormatRate prints bits per second in the largest whole-ish tc unit.
func FormatRate(bps uint64) string {
	for _, u := range []struct {
		name string
		mult uint64
	}{{"Tbit", 1e12}, {"Gbit", 1e9}, {"Mbit", 1e6}, {"kbit", 1e3}} {
		if bps >= u.mult && bps%(u.mult/1000) == 0 {
			return strconv.FormatFloat(float64(bps)/float64(u.mult), 'f', -1, 64) + u.name
		}
	}
	return strconv.FormatUint(bps, 10) + "bit"
}
