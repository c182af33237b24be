package scenario

import (
	"encoding/xml"
	"fmt"
	"io"
	"time"
)

// WriteJUnit writes the reports as JUnit XML for CI: a test suite per
// scenario, a test case per assertion.
func WriteJUnit(w io.Writer, reps []*Report) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
	}
	type suite struct {
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Errors   int        `xml:"errors,attr"`
		Time     string     `xml:"time,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	type suites struct {
		XMLName xml.Name `xml:"testsuites"`
		Suites  []suite  `xml:"testsuite"`
	}
	var out suites
	for _, r := range reps {
		s := suite{Name: "secylab." + r.Scenario, Time: fmt.Sprintf("%.3f", time.Duration(r.Duration).Seconds())}
		if r.Error != "" {
			s.Errors = 1
			s.Cases = append(s.Cases, testcase{Name: "run", Classname: s.Name, Failure: &failure{Message: "the scenario could not run", Text: r.Error}})
		}
		for _, a := range r.Assertions {
			tc := testcase{Name: a.Text, Classname: s.Name, Time: "0"}
			if !a.Passed {
				tc.Failure = &failure{Message: a.Detail, Text: a.Text + ": " + a.Detail}
				s.Failures++
			}
			s.Cases = append(s.Cases, tc)
		}
		for _, c := range r.Captures { // a failure of the capture, not of the exercise
			tc := testcase{Name: "capture " + c.Link + " complete", Classname: s.Name, Time: "0"}
			if !c.Complete {
				tc.Failure = &failure{Message: "capture incomplete", Text: c.Detail}
				s.Failures++
			}
			s.Cases = append(s.Cases, tc)
		}
		s.Tests = len(s.Cases)
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
