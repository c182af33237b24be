package conformance

import (
	"fmt"
	"slices"
	"strings"
)

// The suites, in the order they run.
const (
	SuiteMACsec = "macsec"
	SuiteMKA    = "mka"
	SuiteIPsec  = "ipsec"
)

// Suites lists every suite.
var Suites = []string{SuiteMACsec, SuiteMKA, SuiteIPsec}

// ParseSuites reads a comma-separated list of suite names ("all" or empty:
// every suite) and returns them in run order, without duplicates.
func ParseSuites(list []string) ([]string, error) {
	var out []string
	for _, item := range list {
		for name := range strings.SplitSeq(item, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			switch {
			case name == "" || name == "all":
				out = append(out, Suites...)
			case slices.Contains(Suites, name):
				out = append(out, name)
			default:
				return nil, fmt.Errorf("unknown suite %q: want %s or all", name, strings.Join(Suites, ", "))
			}
		}
	}
	if len(out) == 0 {
		out = Suites
	}
	var sorted []string
	for _, s := range Suites {
		if slices.Contains(out, s) {
			sorted = append(sorted, s)
		}
	}
	return sorted, nil
}

// DefaultTransfer is how many octets each TCP transfer moves each way.
const DefaultTransfer = 1 << 20
