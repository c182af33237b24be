package conformance

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// JUnit XML as CI systems read it (the Jenkins/Ant schema): one testsuite
// per suite, one testcase per case.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the results as JUnit XML; where names the kernel the
// cases ran on and goes into each case's classname.
func WriteJUnit(w io.Writer, where string, rs []Result) error {
	top := junitSuites{Name: "secylab conformance"}
	var total time.Duration
	var suiteTime []time.Duration
	index := map[string]int{}
	for _, r := range rs {
		i, ok := index[r.Suite]
		if !ok {
			i = len(top.Suites)
			index[r.Suite] = i
			top.Suites = append(top.Suites, junitSuite{Name: r.Suite})
			suiteTime = append(suiteTime, 0)
		}
		s := &top.Suites[i]
		c := junitCase{Name: r.Case, Classname: "conformance." + r.Suite, Time: seconds(r.Duration)}
		if where != "" {
			c.Classname += " (" + where + ")"
		}
		msg := firstLine(r.Detail)
		switch r.Status {
		case Fail:
			c.Failure = &junitMessage{Message: msg, Text: r.Detail}
			s.Failures++
			top.Failures++
		case Skip:
			c.Skipped = &junitMessage{Message: msg}
			s.Skipped++
			top.Skipped++
		default:
			c.SystemOut = r.Detail
		}
		s.Tests++
		top.Tests++
		suiteTime[i] += r.Duration
		total += r.Duration
		s.Cases = append(s.Cases, c)
	}
	for i := range top.Suites {
		top.Suites[i].Time = seconds(suiteTime[i])
	}
	top.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(top); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
