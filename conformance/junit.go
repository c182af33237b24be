package conformance

import (
	"io"
	"strings"

	"github.com/secylab/secylab/internal/junit"
)

// WriteJUnit writes the results as JUnit XML, a suite per conformance
// suite; where names the kernel the cases ran on and goes into each case's
// classname.
func WriteJUnit(w io.Writer, where string, rs []Result) error {
	doc := junit.Suites{Name: "secylab conformance"}
	index := map[string]int{}
	for _, r := range rs {
		i, ok := index[r.Suite]
		if !ok {
			i = len(doc.Suites)
			index[r.Suite] = i
			doc.Suites = append(doc.Suites, junit.Suite{Name: r.Suite})
		}
		c := junit.Case{Name: r.Case, Classname: "conformance." + r.Suite}
		if where != "" {
			c.Classname += " (" + where + ")"
		}
		msg := firstLine(r.Detail)
		switch r.Status {
		case Fail:
			c.Failure = &junit.Message{Message: msg, Text: r.Detail}
		case Skip:
			c.Skipped = &junit.Message{Message: msg}
		default:
			c.SystemOut = r.Detail
		}
		doc.Suites[i].Add(c, r.Duration, false)
	}
	return junit.Write(w, &doc)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
