package conformance

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The guest speaks to the host over the serial console, which also carries
// the kernel's and the shell's chatter. Only lines that start with these
// markers count; a run is complete only when the end marker arrived.
const (
	markerBegin  = "SECYLAB-CONFORMANCE-BEGIN"
	markerResult = "SECYLAB-CONFORMANCE-RESULT "
	markerLog    = "SECYLAB-CONFORMANCE-LOG "
	markerEnd    = "SECYLAB-CONFORMANCE-END"
)

// ResultLine is one result as the guest prints it on the console.
func ResultLine(r Result) string {
	b, _ := json.Marshal(r) // a Result always marshals
	return markerResult + string(b)
}

// consoleRun is what the host read from the guest's console.
type consoleRun struct {
	Begun   bool
	Ended   bool
	Exit    int    // the guest command's exit status, from the end marker
	Kernel  string // from the begin marker
	Results []Result
	Logs    []string
}

// parseConsole reads the console until EOF. Lines end in \r\n on a serial
// port; other output and garbled lines are ignored, except that a result
// line that does not parse is an error, since a result would be lost.
// onLine, if not nil, sees every line (for --verbose and for timeouts).
func parseConsole(r io.Reader, onLine func(string)) (consoleRun, error) {
	var run consoleRun
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if onLine != nil {
			onLine(line)
		}
		// The kernel may print in the middle of a line; markers are
		// searched for, not only at the start.
		i := strings.Index(line, "SECYLAB-CONFORMANCE-")
		if i < 0 {
			continue
		}
		line = line[i:]
		switch {
		case strings.HasPrefix(line, markerBegin):
			run.Begun = true
			run.Kernel = strings.TrimSpace(strings.TrimPrefix(line, markerBegin))
		case strings.HasPrefix(line, markerResult):
			var res Result
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, markerResult)), &res); err != nil {
				return run, fmt.Errorf("console: result line %q: %w", line, err)
			}
			run.Results = append(run.Results, res)
		case strings.HasPrefix(line, markerLog):
			run.Logs = append(run.Logs, strings.TrimPrefix(line, markerLog))
		case strings.HasPrefix(line, markerEnd):
			run.Ended = true
			rest := strings.TrimSpace(strings.TrimPrefix(line, markerEnd))
			if v, ok := strings.CutPrefix(rest, "exit="); ok {
				if n, err := strconv.Atoi(v); err == nil {
					run.Exit = n
				}
			}
		}
	}
	return run, sc.Err()
}
