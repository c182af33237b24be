package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/bench"
	"github.com/secylab/secylab/macsec"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure secylab's data plane on this machine",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBenchSuitesCmd(), newBenchLabCmd(), newBenchScaleCmd())
	return cmd
}

const defaultBenchDuration = 1500 * time.Millisecond

func newBenchSuitesCmd() *cobra.Command {
	var (
		suites     []string
		sizes      []int
		cores      []int
		batch      int
		duration   time.Duration
		asJSON     bool
		progress   bool
		noProgress bool
	)
	suiteNames := make([]string, len(macsec.Suites))
	for i, s := range macsec.Suites {
		suiteNames[i] = s.String()
	}
	def := bench.Config{Suites: macsec.Suites, Sizes: bench.DefaultSizes, Cores: bench.DefaultCores(), Duration: defaultBenchDuration}
	points := len(def.Suites) * len(def.Sizes) * len(def.Cores)

	cmd := &cobra.Command{
		Use:   "suites",
		Short: "Protect and validate throughput per cipher suite, beside bare AES-GCM",
		Long: fmt.Sprintf(`Measure SecY Protect and Validate throughput (Gbit/s of cleartext frame
octets and Mframes/s) for each cipher suite, frame size and core count,
beside a bare AES-GCM Seal and Open of the same bytes measured in the same
run, and the ratio SecY/bare. The SecY takes the frames in batches
(ProtectBatch, ValidateBatch), as the data plane passes it the frames of
one read; --batch 1 measures Protect and Validate frame by frame. Every
frame is checked, and allocations per frame are reported.

Each point (suite, size, cores) takes --duration plus a 1/8 warm-up. The
default run here is %d points (%d suites × %d sizes × cores %v), about %.0fs.`,
			points, len(def.Suites), len(def.Sizes), def.Cores, def.Estimate().Seconds()),
		Example: `  secylab bench suites
  secylab bench suites --suites GcmAesXpn256 --sizes 1500 --cores 1 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := bench.Config{Sizes: sizes, Cores: cores, Batch: batch, Duration: duration}
			for _, name := range suites {
				s, err := macsec.ParseCipherSuite(name)
				if err != nil {
					return usagef("--suites: %w", err)
				}
				cfg.Suites = append(cfg.Suites, s)
			}
			if err := checkBenchFlags(cfg); err != nil {
				return err
			}
			if progress && noProgress {
				return usagef("--progress and --no-progress exclude each other")
			}
			if progress || !noProgress && isTerminal(os.Stderr) {
				cfg.Progress = progressBar(cmd.ErrOrStderr())
			}

			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer cancel()
			rep, err := bench.Run(ctx, cfg)
			if cfg.Progress != nil {
				fmt.Fprint(cmd.ErrOrStderr(), "\r\033[K")
			}
			if err != nil {
				return err
			}
			if asJSON {
				return rep.WriteJSON(cmd.OutOrStdout())
			}
			return rep.WriteTable(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&suites, "suites", suiteNames, "cipher suites, by 802.1AE, Azure or iproute2 name")
	f.IntSliceVar(&sizes, "sizes", bench.DefaultSizes, fmt.Sprintf("cleartext frame sizes in octets, without FCS (%d..%d)", bench.MinFrame, bench.MaxFrame))
	f.IntSliceVar(&cores, "cores", def.Cores, "parallel workers, each with its own SecY pair (1..GOMAXPROCS)")
	f.IntVar(&batch, "batch", bench.DefaultBatch, fmt.Sprintf("frames per ProtectBatch/ValidateBatch call, as the data plane passes the frames of one read (1: Protect/Validate frame by frame; 1..%d)", bench.MaxBatch))
	f.DurationVar(&duration, "duration", defaultBenchDuration, "measured time per point, shared by protect, validate, bare seal and bare open")
	f.BoolVar(&asJSON, "json", false, "write the report as JSON")
	f.BoolVar(&progress, "progress", false, "show the progress bar on stderr even when it is not a terminal")
	f.BoolVar(&noProgress, "no-progress", false, "never show the progress bar")
	return cmd
}

// checkBenchFlags says which flag is wrong and what it allows.
func checkBenchFlags(cfg bench.Config) error {
	if len(cfg.Suites) == 0 {
		return usagef("--suites: name at least one cipher suite")
	}
	if len(cfg.Sizes) == 0 {
		return usagef("--sizes: name at least one frame size")
	}
	for _, n := range cfg.Sizes {
		if n < bench.MinFrame || n > bench.MaxFrame {
			return usagef("--sizes %d: a frame is %d..%d octets (without FCS)", n, bench.MinFrame, bench.MaxFrame)
		}
	}
	if len(cfg.Cores) == 0 {
		return usagef("--cores: name at least one core count")
	}
	maxCores := bench.DefaultCores()
	for _, k := range cfg.Cores {
		if limit := maxCores[len(maxCores)-1]; k < 1 || k > limit {
			return usagef("--cores %d: want 1..%d (GOMAXPROCS on this machine)", k, limit)
		}
	}
	if cfg.Batch < 1 || cfg.Batch > bench.MaxBatch {
		return usagef("--batch %d: want 1..%d frames per call", cfg.Batch, bench.MaxBatch)
	}
	if cfg.Duration < 10*time.Millisecond {
		return usagef("--duration %v: want at least 10ms", cfg.Duration)
	}
	return nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar draws "[#####.....] 12/32 GCM-AES-128 1500 B ×2  ETA 0:31"
// on one line, redrawn in place.
func progressBar(w io.Writer) func(bench.Progress) {
	const width = 30
	return func(p bench.Progress) {
		n := int(p.Fraction * width)
		eta := "ETA --:--"
		if p.ETA > 0 {
			s := int(p.ETA.Round(time.Second).Seconds())
			eta = fmt.Sprintf("ETA %d:%02d", s/60, s%60)
		}
		fmt.Fprintf(w, "\r\033[K[%s%s] %d/%d %s  %s",
			strings.Repeat("#", n), strings.Repeat(".", width-n), min(p.Done+1, p.Total), p.Total, p.Current, eta)
	}
}
