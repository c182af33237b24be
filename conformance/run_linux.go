package conformance

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Options configure a run of the cases on the running kernel.
type Options struct {
	Suites   []string
	Transfer int // octets per TCP transfer and direction; 0: DefaultTransfer
	Filter   string
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// OnResult sees each result as soon as its case ends.
	OnResult func(Result)
}

// env is what a case gets: its lab, the tools and the options.
type env struct {
	*testbed
	opts Options
	wpa  string // wpa_supplicant, "" when not installed
	log  io.Writer
}

type testCase struct {
	suite, name string
	run         func(e *env) (string, error)
}

func casesFor(suite string) []testCase {
	switch suite {
	case SuiteMACsec:
		return macsecCases()
	case SuiteMKA:
		return mkaCases()
	case SuiteIPsec:
		return slices.Concat(ipsecCases(), ikeCases(), libreswanCases())
	}
	return nil
}

// KernelRelease is uname -r.
func KernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// Run runs the cases of the suites on the running kernel, one after the
// other, each in its own namespaces. It needs root.
func Run(ctx context.Context, opts Options) []Result {
	if opts.Transfer <= 0 {
		opts.Transfer = DefaultTransfer
	}
	ip, ipErr := findIP()
	wpa, _ := exec.LookPath("wpa_supplicant")
	where := "host " + KernelRelease()
	var results []Result
	for _, suite := range opts.Suites {
		for _, tc := range casesFor(suite) {
			if opts.Filter != "" && !strings.Contains(suite+"/"+tc.name, opts.Filter) {
				continue
			}
			if ctx.Err() != nil {
				return results
			}
			r := Result{Suite: suite, Case: tc.name, Where: where}
			if opts.Log != nil {
				fmt.Fprintf(opts.Log, "=== %s\n", r.Name())
			}
			start := time.Now()
			if ipErr != nil {
				r.Status, r.Detail = Fail, ipErr.Error()
			} else {
				r.Status, r.Detail = runCase(ctx, tc, &env{opts: opts, wpa: wpa, log: opts.Log}, ip)
			}
			r.Duration = time.Since(start).Round(time.Millisecond)
			if opts.Log != nil {
				fmt.Fprintf(opts.Log, "--- %s %s (%.1fs) %s\n", strings.ToUpper(string(r.Status)), r.Name(), r.Duration.Seconds(), r.Detail)
			}
			if opts.OnResult != nil {
				opts.OnResult(r)
			}
			results = append(results, r)
		}
	}
	return results
}

// caseTimeout bounds one case, so that a hang cannot eat the whole run.
const caseTimeout = 90 * time.Second

// errSkip marks a case that could not run here (a missing tool).
type errSkip struct{ why string }

func (e errSkip) Error() string { return e.why }

func runCase(ctx context.Context, tc testCase, e *env, ip string) (st Status, detail string) {
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	e.testbed = newLab(ctx, ip)
	defer e.testbed.close()
	defer func() {
		if p := recover(); p != nil {
			st, detail = Fail, fmt.Sprintf("panic: %v", p)
		}
	}()
	d, err := tc.run(e)
	switch err := err.(type) {
	case nil:
		return Pass, d
	case errSkip:
		return Skip, err.why
	default:
		return Fail, err.Error()
	}
}
