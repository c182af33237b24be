package scenario

import (
	"io"
	"time"

	"github.com/secylab/secylab/internal/junit"
)

// WriteJUnit writes the reports as JUnit XML for CI: a test suite per
// scenario, a test case per assertion, and one per capture (a failure of
// the capture, not of the exercise).
func WriteJUnit(w io.Writer, reps []*Report) error {
	var doc junit.Suites
	for _, r := range reps {
		s := junit.Suite{Name: "secylab." + r.Scenario, Time: junit.Seconds(time.Duration(r.Duration))}
		if r.Error != "" {
			s.Add(junit.Case{Name: "run", Classname: s.Name, Failure: &junit.Message{Message: "the scenario could not run", Text: r.Error}}, 0, true)
		}
		for _, a := range r.Assertions {
			c := junit.Case{Name: a.Text, Classname: s.Name}
			if !a.Passed {
				c.Failure = &junit.Message{Message: a.Detail, Text: a.Text + ": " + a.Detail}
			}
			s.Add(c, 0, false)
		}
		for _, cp := range r.Captures {
			c := junit.Case{Name: "capture " + cp.Link + " complete", Classname: s.Name}
			if !cp.Complete {
				c.Failure = &junit.Message{Message: "capture incomplete", Text: cp.Detail}
			}
			s.Add(c, 0, false)
		}
		doc.Suites = append(doc.Suites, s)
	}
	var total time.Duration
	for _, r := range reps {
		total += time.Duration(r.Duration)
	}
	doc.Time = junit.Seconds(total)
	return junit.Write(w, &doc)
}
