// Package junit writes JUnit XML as CI systems read it (the Jenkins/Ant
// schema): test suites of test cases, each passed, failed or skipped. The
// exercises (secylab lab run --junit) and the conformance suite (secylab
// conformance --junit) both write it here.
package junit

import (
	"encoding/xml"
	"fmt"
	"io"
	"time"
)

// Suites is the document: every suite, with totals that Write fills in.
type Suites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr,omitempty"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []Suite  `xml:"testsuite"`
}

// Suite is one test suite; Add keeps its counts.
type Suite struct {
	Name     string        `xml:"name,attr"`
	Tests    int           `xml:"tests,attr"`
	Failures int           `xml:"failures,attr"`
	Errors   int           `xml:"errors,attr"`
	Skipped  int           `xml:"skipped,attr"`
	Time     string        `xml:"time,attr"`
	Cases    []Case        `xml:"testcase"`
	elapsed  time.Duration // the sum of the cases' times
}

// Case is one test case: Failure or Skipped set, or neither for a pass.
type Case struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	Time      string   `xml:"time,attr"`
	Failure   *Message `xml:"failure,omitempty"`
	Skipped   *Message `xml:"skipped,omitempty"`
	SystemOut string   `xml:"system-out,omitempty"`
}

// Message is a failure's or a skip's one-line message and full text.
type Message struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// Seconds is a duration as JUnit's time attribute.
func Seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// Add appends c, which took d, to the suite and counts it; an error is a
// failure to run rather than a failed check.
func (s *Suite) Add(c Case, d time.Duration, isError bool) {
	c.Time = Seconds(d)
	switch {
	case c.Failure != nil && isError:
		s.Errors++
	case c.Failure != nil:
		s.Failures++
	case c.Skipped != nil:
		s.Skipped++
	}
	s.Tests++
	s.elapsed += d
	s.Cases = append(s.Cases, c)
}

// Write writes the document with its totals; a suite's time is the sum
// of its cases' unless already set.
func Write(w io.Writer, doc *Suites) error {
	doc.Tests, doc.Failures, doc.Errors, doc.Skipped = 0, 0, 0, 0
	var total time.Duration
	for i := range doc.Suites {
		s := &doc.Suites[i]
		if s.Time == "" {
			s.Time = Seconds(s.elapsed)
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
		total += s.elapsed
	}
	if doc.Time == "" {
		doc.Time = Seconds(total)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
