package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is the outcome of one case.
type Status string

// The outcomes. Only Pass counts as success: a skipped case is one whose
// reference implementation could not be run, and the suite did not prove it.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is what one case did.
type Result struct {
	Suite    string        `json:"suite"`
	Case     string        `json:"case"`
	Status   Status        `json:"status"`
	Duration time.Duration `json:"duration_ns"`
	Detail   string        `json:"detail,omitempty"`
	Where    string        `json:"where,omitempty"` // "host" or "vm <kernel>"
}

// Name is suite/case, as the table and JUnit show it.
func (r Result) Name() string { return r.Suite + "/" + r.Case }

// AllPassed reports whether there is at least one result and every one passed.
func AllPassed(rs []Result) bool {
	if len(rs) == 0 {
		return false
	}
	for _, r := range rs {
		if r.Status != Pass {
			return false
		}
	}
	return true
}

// WriteTable prints the results as an aligned table: case, result,
// duration, detail.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tRESULT\tDURATION\tDETAIL")
	var pass int
	var total time.Duration
	for _, r := range rs {
		if r.Status == Pass {
			pass++
		}
		total += r.Duration
		detail := strings.ReplaceAll(r.Detail, "\n", " | ")
		fmt.Fprintf(tw, "%s\t%s\t%.1fs\t%s\n", r.Name(), strings.ToUpper(string(r.Status)), r.Duration.Seconds(), detail)
	}
	fmt.Fprintf(tw, "\t%d/%d passed\t%.1fs\t\n", pass, len(rs), total.Seconds())
	return tw.Flush()
}

// Report is the JSON form of a run.
type Report struct {
	Where   string   `json:"where"` // "host <kernel>" or "vm <kernel>"
	Why     string   `json:"why,omitempty"`
	Passed  bool     `json:"passed"`
	Results []Result `json:"results"`
}

// WriteJSON writes the report, indented.
func WriteJSON(w io.Writer, rep Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
