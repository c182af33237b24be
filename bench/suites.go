// Package bench measures the SecY hot path of package macsec beside a bare
// AES-GCM baseline of the same bytes, measured in the same run.
package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/secylab/secylab/macsec"
)

// Frame sizes are cleartext Ethernet frames without FCS: DA|SA|EtherType|payload.
const (
	MinFrame = 60   // the shortest Ethernet frame
	MaxFrame = 9216 // the largest jumbo frame switches commonly take
)

// DefaultSizes are the frame sizes of a default run.
var DefaultSizes = []int{64, 512, 1500, 9000}

// DefaultBatch is the frames per ProtectBatch and ValidateBatch call of a
// default run: a full read of the data plane's packet sockets is 64, a
// TCP stream's reads run from a few frames to that.
const DefaultBatch = 32

// MaxBatch is the largest batch a run takes: a TUN device's batch.
const MaxBatch = 256

// DefaultCores returns 1, 2, 4, … up to and including GOMAXPROCS.
func DefaultCores() []int {
	n := runtime.GOMAXPROCS(0)
	var cores []int
	for c := 1; c < n; c *= 2 {
		cores = append(cores, c)
	}
	return append(cores, n)
}

// Config says what to measure.
type Config struct {
	Suites []macsec.CipherSuite
	Sizes  []int // cleartext frame octets, MinFrame..MaxFrame
	Cores  []int // parallel workers, 1..GOMAXPROCS
	// Batch is the frames per call of ProtectBatch and ValidateBatch
	// (1: Protect and Validate, frame by frame); 0 means DefaultBatch.
	// The bare operations seal and open the same batches frame by frame.
	Batch int

	// Duration is the measured time of one (suite, size, cores) point,
	// shared by its four operations in interleaved rounds.
	Duration time.Duration
	// Warmup runs before each point, untimed. 0 means Duration/8.
	Warmup time.Duration

	// Progress, if set, is called from Run's goroutine between rounds.
	Progress func(Progress)
}

// Progress reports how far a run is.
type Progress struct {
	Done, Total int     // points finished and planned
	Fraction    float64 // of the whole run, 0..1
	Current     string  // the point being measured, e.g. "GCM-AES-128 1500 B ×2"
	Elapsed     time.Duration
	ETA         time.Duration // 0 until it can be estimated
}

func (c *Config) check() error {
	if len(c.Suites) == 0 || len(c.Sizes) == 0 || len(c.Cores) == 0 {
		return errors.New("need at least one suite, one frame size and one core count")
	}
	for _, s := range c.Suites {
		if !s.Valid() {
			return fmt.Errorf("cipher suite %v: want one of %v", s, macsec.Suites)
		}
	}
	for _, n := range c.Sizes {
		if n < MinFrame || n > MaxFrame {
			return fmt.Errorf("frame size %d: want %d..%d octets", n, MinFrame, MaxFrame)
		}
	}
	maxCores := runtime.GOMAXPROCS(0)
	for _, k := range c.Cores {
		if k < 1 || k > maxCores {
			return fmt.Errorf("core count %d: want 1..%d (GOMAXPROCS)", k, maxCores)
		}
	}
	if c.Batch < 0 || c.Batch > MaxBatch {
		return fmt.Errorf("batch %d: want 1..%d frames (0 for %d)", c.Batch, MaxBatch, DefaultBatch)
	}
	if c.Duration < time.Millisecond {
		return fmt.Errorf("duration %v: want at least 1ms", c.Duration)
	}
	if c.Warmup < 0 {
		return fmt.Errorf("warm-up %v: must not be negative", c.Warmup)
	}
	return nil
}

func (c *Config) batch() int {
	if c.Batch > 0 {
		return c.Batch
	}
	return DefaultBatch
}

func (c *Config) warmup() time.Duration {
	if c.Warmup > 0 {
		return c.Warmup
	}
	return c.Duration / 8
}

// round is the length of one timed round of one operation: short, so that
// machine noise falls on all four operations alike, long against the cost
// of starting and stopping the workers.
func (c *Config) round() time.Duration {
	return min(max(c.Duration/(numOps*10), time.Millisecond), 20*time.Millisecond)
}

// Estimate is how long a run of c takes, setup aside.
func (c *Config) Estimate() time.Duration {
	n := len(c.Suites) * len(c.Sizes) * len(c.Cores)
	return time.Duration(n) * (c.Duration + c.warmup())
}

// Run measures every (suite, size, cores) point of c in turn.
func Run(ctx context.Context, c Config) (*Report, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	rep := &Report{
		Schema:       Schema,
		Machine:      ReadMachine(),
		Started:      time.Now().UTC().Truncate(time.Second),
		Duration:     c.Duration.Seconds(),
		Warmup:       c.warmup().Seconds(),
		Round:        c.round().Seconds(),
		Batch:        c.batch(),
		RingFrames:   ringLen,
		ReplayWindow: replayWindow,
		Notes:        Notes,
		LoadStart:    loadAvg(),
	}
	total := len(c.Suites) * len(c.Sizes) * len(c.Cores)
	start := time.Now()
	var lastTick time.Time
	for _, suite := range c.Suites {
		for _, size := range c.Sizes {
			for _, cores := range c.Cores {
				done := len(rep.Results)
				cur := fmt.Sprintf("%s %d B ×%d", suite, size, cores)
				tick := func(f float64, force bool) {
					if c.Progress == nil {
						return
					}
					now := time.Now()
					if !force && now.Sub(lastTick) < 100*time.Millisecond {
						return
					}
					lastTick = now
					p := Progress{Done: done, Total: total, Fraction: (float64(done) + f) / float64(total), Current: cur, Elapsed: now.Sub(start)}
					if p.Fraction > 0 {
						p.ETA = time.Duration(float64(p.Elapsed) * (1 - p.Fraction) / p.Fraction)
					}
					c.Progress(p)
				}
				tick(0, true)
				r, err := measure(ctx, &c, suite, size, cores, tick)
				if err != nil {
					return nil, err
				}
				rep.Results = append(rep.Results, r)
			}
		}
	}
	if c.Progress != nil {
		el := time.Since(start)
		c.Progress(Progress{Done: total, Total: total, Fraction: 1, Elapsed: el})
	}
	rep.Elapsed = time.Since(start).Seconds()
	rep.LoadEnd = loadAvg()
	return rep, nil
}

// measure runs one point: cores workers, the four operations interleaved
// in short rounds whose order rotates, each round bracketed by MemStats.
func measure(ctx context.Context, c *Config, suite macsec.CipherSuite, size, cores int, tick func(float64, bool)) (Result, error) {
	runtime.GC() // start every point with a clean heap
	done := make(chan struct{})
	ws := make([]*worker, cores)
	for i := range ws {
		w, err := newWorker(suite, size, c.batch(), i, done)
		if err != nil {
			for _, w := range ws[:i] {
				close(w.cmd)
				<-done
			}
			return Result{}, err
		}
		ws[i] = w
		go w.loop()
	}
	running := true
	stopWorkers := func() {
		if running {
			running = false
			for _, w := range ws {
				close(w.cmd)
			}
			for range ws {
				<-done
			}
		}
	}
	defer stopWorkers()

	// do runs o on every worker for d and returns the frames done and the
	// span from the first worker's start to the last one's end.
	do := func(o op, d time.Duration) (frames uint64, span time.Duration, err error) {
		deadline := time.Now().Add(d)
		for _, w := range ws {
			w.deadline = deadline
			w.cmd <- o
		}
		for range ws {
			<-done
		}
		first, last := ws[0].start, ws[0].end
		for _, w := range ws {
			if w.err != nil {
				return 0, 0, fmt.Errorf("%s %d B ×%d: %w", suite, size, cores, w.err)
			}
			frames += w.frames
			if w.start.Before(first) {
				first = w.start
			}
			if w.end.After(last) {
				last = w.end
			}
		}
		return frames, last.Sub(first), nil
	}

	warm := c.warmup() / numOps
	for o := range op(numOps) {
		if _, _, err := do(o, warm); err != nil {
			return Result{}, err
		}
	}

	round := c.round()
	rounds := max(1, int((c.Duration/numOps+round-1)/round))
	var (
		frames  [numOps][]uint64
		spans   [numOps][]time.Duration
		mallocs [numOps]uint64
	)
	var before, after runtime.MemStats
	for r := range rounds {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if _, _, err := do(opRefill, 0); err != nil {
			return Result{}, err
		}
		for i := range numOps {
			o := op((r + i) % numOps)
			runtime.ReadMemStats(&before)
			n, span, err := do(o, round)
			runtime.ReadMemStats(&after)
			if err != nil {
				return Result{}, err
			}
			if n == 0 || span <= 0 {
				return Result{}, fmt.Errorf("%s %d B ×%d: %s did not complete a frame in %v", suite, size, cores, opNames[o], round)
			}
			frames[o] = append(frames[o], n)
			spans[o] = append(spans[o], span)
			mallocs[o] += after.Mallocs - before.Mallocs
		}
		tick(float64(r+1)/float64(rounds), false)
	}

	var rates [numOps]Rate
	for o := range numOps {
		var total uint64
		var secs float64
		perRound := make([]float64, rounds)
		for r := range rounds {
			total += frames[o][r]
			secs += spans[o][r].Seconds()
			perRound[r] = float64(frames[o][r]) / spans[o][r].Seconds()
		}
		fps := median(perRound)
		rates[o] = Rate{
			Frames:            total,
			Seconds:           secs,
			Gbps:              fps * float64(size) * 8 / 1e9,
			Mfps:              fps / 1e6,
			MeanGbps:          float64(total) * float64(size) * 8 / secs / 1e9,
			RunAllocsPerFrame: float64(mallocs[o]) / float64(total),
		}
	}
	// The allocation check proper: the hot path alone on this goroutine, so
	// that the runtime's own allocations for waking goroutines and timers,
	// which the in-run count includes, cannot raise a false alarm.
	stopWorkers() // a worker parking on its channel may allocate
	for _, w := range ws {
		w.deadline = time.Now().Add(time.Hour)
		if err := w.refill(); err != nil {
			return Result{}, err
		}
	}
	for o := range op(numOps) {
		a, err := allocsPerFrame(ws, o)
		if err != nil {
			return Result{}, fmt.Errorf("%s %d B: allocation check of %s: %w", suite, size, opNames[o], err)
		}
		rates[o].AllocsPerFrame = a
	}

	// The ratio of each round's pair of measurements, taken back to back,
	// cancels most of the noise that moves both.
	ratio := func(secy, bare op) float64 {
		rs := make([]float64, rounds)
		for r := range rounds {
			rs[r] = float64(frames[secy][r]) / spans[secy][r].Seconds() / (float64(frames[bare][r]) / spans[bare][r].Seconds())
		}
		return median(rs)
	}
	res := Result{
		Suite:         suite.String(),
		SuiteID:       fmt.Sprintf("%#016x", uint64(suite)),
		Size:          size,
		Cores:         cores,
		Protect:       rates[opProtect],
		BareSeal:      rates[opSeal],
		ProtectRatio:  ratio(opProtect, opSeal),
		Validate:      rates[opValidate],
		BareOpen:      rates[opOpen],
		ValidateRatio: ratio(opValidate, opOpen),
	}
	res.AllocFree = res.Protect.AllocsPerFrame == 0 && res.Validate.AllocsPerFrame == 0
	return res, nil
}

// allocsPerFrame runs o on each worker's SecY from this goroutine, with
// runtime.MemStats around it. A goroutine that moves to another P makes
// a sync.Pool grow there once, which is no allocation per frame: so a
// check is short (well under the scheduler's 10ms time slice) and the
// lowest of three tries counts. An allocation per frame shows in all three.
func allocsPerFrame(ws []*worker, o op) (float64, error) {
	n := uint64(min(1000, max(100, 2<<20/ws[0].size)))
	n = (n + uint64(ws[0].batch) - 1) / uint64(ws[0].batch) * uint64(ws[0].batch) // whole batches
	var before, after runtime.MemStats
	best := math.MaxFloat64
	for range 3 {
		runtime.Gosched() // a fresh time slice
		// As testing.AllocsPerRun does, a first pass fills the caches of
		// this goroutine's P (the SecY's IV pool among them).
		for _, w := range ws {
			w.exec(o, max(n/10, 1))
		}
		runtime.ReadMemStats(&before)
		for _, w := range ws {
			if got := w.exec(o, n); got != n || w.err != nil {
				return 0, fmt.Errorf("%d of %d frames: %v", got, n, w.err)
			}
		}
		runtime.ReadMemStats(&after)
		best = min(best, float64(after.Mallocs-before.Mallocs)/float64(n*uint64(len(ws))))
		if best == 0 {
			break
		}
	}
	return best, nil
}

func median(v []float64) float64 {
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}
