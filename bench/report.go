package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Schema names the JSON layout of a Report; it changes only with the layout.
const Schema = "secylab.bench.suites/v1"

// Report is the outcome of a run, as printed by WriteTable and WriteJSON.
type Report struct {
	Schema       string    `json:"schema"`
	Machine      Machine   `json:"machine"`
	Started      time.Time `json:"started"`
	Duration     float64   `json:"duration_s"` // measured time per point
	Warmup       float64   `json:"warmup_s"`   // untimed, per point
	Round        float64   `json:"round_s"`    // one timed round of one operation
	Batch        int       `json:"batch_frames"`
	RingFrames   int       `json:"ring_frames"`
	ReplayWindow int       `json:"replay_window"`
	Elapsed      float64   `json:"elapsed_s"` // the whole run
	// LoadStart and LoadEnd are /proc/loadavg's 1-minute load average
	// before and after the run: above 0.5 or so, other work took CPU
	// time and the numbers are low and noisy. -1 when unknown.
	LoadStart float64  `json:"load_start"`
	LoadEnd   float64  `json:"load_end"`
	Notes     []string `json:"notes"`
	Results   []Result `json:"results"`
}

// Machine describes where the numbers come from.
type Machine struct {
	CPUModel   string   `json:"cpu_model"`
	CPUFlags   []string `json:"cpu_flags"` // the ones AES-GCM speed depends on
	NumCPU     int      `json:"num_cpu"`
	GOMAXPROCS int      `json:"gomaxprocs"`
	GoVersion  string   `json:"go_version"`
	GOOS       string   `json:"goos"`
	GOARCH     string   `json:"goarch"`
}

// Result is one (suite, size, cores) point.
type Result struct {
	Suite         string  `json:"suite"`
	SuiteID       string  `json:"suite_id"`
	Size          int     `json:"frame_octets"`
	Cores         int     `json:"cores"`
	Protect       Rate    `json:"protect"`
	BareSeal      Rate    `json:"bare_seal"`
	ProtectRatio  float64 `json:"protect_ratio"` // Protect / bare Seal
	Validate      Rate    `json:"validate"`
	BareOpen      Rate    `json:"bare_open"`
	ValidateRatio float64 `json:"validate_ratio"` // Validate / bare Open
	AllocFree     bool    `json:"alloc_free"`     // Protect and Validate allocated nothing
}

// Rate is the throughput of one operation at one point, over all cores.
type Rate struct {
	Frames  uint64  `json:"frames"`  // over all timed rounds
	Seconds float64 `json:"seconds"` // the timed rounds' total
	// Gbps and Mfps are the median over the rounds; MeanGbps is Frames
	// over Seconds, which counts every moment another process took.
	Gbps     float64 `json:"gbit_per_s"` // cleartext frame octets
	Mfps     float64 `json:"mframes_per_s"`
	MeanGbps float64 `json:"mean_gbit_per_s"`
	// AllocsPerFrame comes from a separate run of the operation alone on
	// one goroutine; RunAllocsPerFrame from the timed rounds, including
	// what the runtime allocated to wake the workers (the bare operations
	// show how much that is).
	AllocsPerFrame    float64 `json:"allocs_per_frame"`
	RunAllocsPerFrame float64 `json:"run_allocs_per_frame"`
}

// Notes say what the numbers mean; they go with every report.
var Notes = []string{
	"Gbit/s counts cleartext frame octets (DA|SA|EtherType|payload, no FCS), summed over all cores; Mfps is millions of frames per second.",
	"bare = the same crypto/cipher AES-GCM (same key) Seal/Open of the same bytes in place, in buffers laid out as the SecY's: 20 octets of AAD (DA|SA|SecTAG without SCI), size-12 octets encrypted, 16-octet ICV, a counting nonce.",
	"The four operations run interleaved in short rounds of rotating order, after a warm-up, so machine noise falls on all of them. Rates are the median over the rounds; ratio = SecY/bare is the median of the per-round ratios.",
	"SecY: SCI omitted, validateFrames strict, replay protection on. Every frame is checked (Protect must succeed, Validate must return OK or Delayed), and each worker's first frame is opened by a standard-library AES-GCM with the 802.1AE IV.",
	"Each core runs its own SecY pair and buffers: this measures crypto scaling, not contention on one shared SecY's atomics.",
	"Validate and bare Open both copy pre-protected frames (from a ring of 32, refreshed with new PNs each round) into their work buffers, a batch at a time, since both decrypt in place.",
	"allocs/frame (protect/validate): runtime.MemStats around up to 1000 frames per worker run alone after the timed rounds, the lowest of 3 tries; non-zero is flagged with !. JSON also has the count over the timed rounds, which includes the runtime's own.",
}

// ReadMachine describes this machine.
func ReadMachine() Machine {
	m := Machine{
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
		CPUFlags:   []string{},
	}
	m.CPUModel, m.CPUFlags = cpuInfo("/proc/cpuinfo")
	if m.CPUModel == "" {
		m.CPUModel = "unknown " + runtime.GOARCH
	}
	return m
}

// cryptoFlags are the /proc/cpuinfo flags that make AES-GCM fast.
var cryptoFlags = []string{"aes", "pclmulqdq", "vaes", "vpclmulqdq", "avx2", "avx512f", "pmull", "sha2"}

// cpuInfo reads the first processor's model name and its crypto flags.
func cpuInfo(path string) (model string, flags []string) {
	flags = []string{}
	f, err := os.Open(path)
	if err != nil {
		return "", flags
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20) // the flags line is long
	for s.Scan() {
		key, val, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "model name":
			if model == "" {
				model = val
			}
		case "flags", "Features":
			if len(flags) == 0 {
				have := strings.Fields(val)
				for _, c := range cryptoFlags {
					if slices.Contains(have, c) {
						flags = append(flags, c)
					}
				}
			}
		}
	}
	return model, flags
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// WriteTable writes the report as an aligned text table with its header
// and notes.
func (r *Report) WriteTable(w io.Writer) error {
	m := r.Machine
	flags := ""
	if len(m.CPUFlags) > 0 {
		flags = "; " + strings.Join(m.CPUFlags, " ")
	}
	fmt.Fprintln(w, "secylab bench suites: SecY Protect/Validate beside bare AES-GCM Seal/Open, same run")
	fmt.Fprintf(w, "CPU %s (%d logical CPUs%s), GOMAXPROCS %d, %s %s/%s\n",
		m.CPUModel, m.NumCPU, flags, m.GOMAXPROCS, m.GoVersion, m.GOOS, m.GOARCH)
	fmt.Fprintf(w, "%v measured per point in %v rounds, after %v warm-up; whole run %.0fs; load average %.2f before, %.2f after\n",
		seconds(r.Duration), seconds(r.Round), seconds(r.Warmup), r.Elapsed, r.LoadStart, r.LoadEnd)
	if r.Batch > 1 {
		fmt.Fprintf(w, "SecY: ProtectBatch/ValidateBatch of %d frames per call; bare: the same %d frames sealed/opened one by one\n\n", r.Batch, r.Batch)
	} else {
		fmt.Fprintf(w, "SecY: Protect/Validate frame by frame (batch 1); bare: the same frames sealed/opened one by one\n\n")
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-15s\tsize\tcores\tprotect Gbit/s\tMfps\tbare seal Gbit/s\tratio\tvalidate Gbit/s\tMfps\tbare open Gbit/s\tratio\tallocs/frame\t\n", "suite")
	flagged := false
	for _, x := range r.Results {
		allocs := allocCell(x.Protect.AllocsPerFrame) + "/" + allocCell(x.Validate.AllocsPerFrame)
		if !x.AllocFree {
			allocs += " !"
			flagged = true
		}
		fmt.Fprintf(tw, "%-15s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t\n",
			x.Suite, x.Size, x.Cores,
			x.Protect.Gbps, x.Protect.Mfps, x.BareSeal.Gbps, x.ProtectRatio,
			x.Validate.Gbps, x.Validate.Mfps, x.BareOpen.Gbps, x.ValidateRatio, allocs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if flagged {
		fmt.Fprintln(w, "! the SecY hot path allocated: it should allocate nothing per frame.")
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "- "+n)
	}
	return nil
}

func allocCell(v float64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%.2g", v)
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}

// loadAvg returns the 1-minute load average, or -1.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
