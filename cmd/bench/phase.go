package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// phaseResult is one row of throughput figures: one phase, or the same
// phase of several rounds merged.
type phaseResult struct {
	name     string
	inflight int
	// ok counts the successful operations completed in the measured window
	// (200 for the gateway, an approving answer for the ceiling).
	ok      int
	window  time.Duration
	lats    []time.Duration // of the successful operations in the window, sorted
	codes   map[string]int  // every operation of the phase, warm-up included
	cpu     cpuDelta        // over the measured windows
	rounds  []roundFigures  // one per round, in order
	gateway bool
	peakKiB int64 // gateway VmHWM over the phase (reset before it)
	// peakSinceStart is set when VmHWM could not be reset: peakKiB is then
	// the peak since the gateway started.
	peakSinceStart bool
}

// roundFigures are the figures of one round that ratios are taken from:
// a ratio compares figures of the same round, measured seconds apart.
type roundFigures struct {
	rate      float64
	p50       time.Duration
	othersPct float64 // CPU used by other processes, % of one core
}

// cpuDelta is CPU time used over a wall time.
type cpuDelta struct {
	wall, gateway, prosody, driver, busy time.Duration
}

func deltaOf(a, b cpuSample) cpuDelta {
	return cpuDelta{wall: b.at.Sub(a.at), gateway: b.gateway - a.gateway, prosody: b.prosody - a.prosody,
		driver: b.driver - a.driver, busy: b.busy - a.busy}
}

func (d cpuDelta) add(e cpuDelta) cpuDelta {
	return cpuDelta{d.wall + e.wall, d.gateway + e.gateway, d.prosody + e.prosody, d.driver + e.driver, d.busy + e.busy}
}

// percent is each process's CPU use, in % of one core, and what the rest
// of the machine used.
func (d cpuDelta) percent() (prosody, gateway, driver, others float64) {
	pc := func(x time.Duration) float64 { return 100 * x.Seconds() / d.wall.Seconds() }
	prosody, gateway, driver = pc(d.prosody), pc(d.gateway), pc(d.driver)
	others = max(0, pc(d.busy)-prosody-gateway-driver)
	return prosody, gateway, driver, others
}

func (r *phaseResult) rate() float64 { return float64(r.ok) / r.window.Seconds() }

// pct returns the p-th percentile latency (nearest rank).
func (r *phaseResult) pct(p float64) time.Duration { return percentile(r.lats, p) }

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// gwCPUPerOp is the gateway's CPU time per successful operation.
func (r *phaseResult) gwCPUPerOp() time.Duration {
	if r.ok == 0 {
		return 0
	}
	return r.cpu.gateway / time.Duration(r.ok)
}

// maxOthers is the most CPU other processes took in one round.
func (r *phaseResult) maxOthers() float64 {
	m := 0.0
	for _, f := range r.rounds {
		m = max(m, f.othersPct)
	}
	return m
}

// merge adds the same phase of another round.
func (r *phaseResult) merge(o phaseResult) {
	r.ok += o.ok
	r.window += o.window
	r.lats = append(r.lats, o.lats...)
	slices.Sort(r.lats)
	for k, v := range o.codes {
		r.codes[k] += v
	}
	r.cpu = r.cpu.add(o.cpu)
	r.rounds = append(r.rounds, o.rounds...)
	r.peakKiB = max(r.peakKiB, o.peakKiB)
	r.peakSinceStart = r.peakSinceStart || o.peakSinceStart
}

// medianRatio is the median over rounds of f(this round) / f(other's same
// round); 0 when they cannot be paired.
func medianRatio(r, o *phaseResult, f func(roundFigures) float64) float64 {
	if len(r.rounds) != len(o.rounds) || len(r.rounds) == 0 {
		return 0
	}
	var xs []float64
	for i := range r.rounds {
		if d := f(o.rounds[i]); d > 0 {
			xs = append(xs, f(r.rounds[i])/d)
		}
	}
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// failures counts the operations that were not successes.
func (r *phaseResult) failures() int {
	n := 0
	for k, v := range r.codes {
		if k != "200" && k != "approved" {
			n += v
		}
	}
	return n
}

func (r *phaseResult) codesString() string {
	keys := slices.Sorted(maps.Keys(r.codes))
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, r.codes[k]))
	}
	return strings.Join(parts, " ")
}

// workerFactory returns, for worker i, a function that does one operation
// and returns its outcome ("200", "approved", "error", ...).
type workerFactory func(ctx context.Context, i int) func() string

// runPhase keeps inflight operations going for the warm-up and then for
// the measured duration, and samples the processes' CPU time at both ends
// of the measured window. Operations count in the window when they
// complete inside it. With prof, the gateway's CPU profile covers the
// measured window (started before it and stopped after it, each once the
// gateway has acted on the signal).
func runPhase(ctx context.Context, o *options, name string, inflight int, pr procs, gwPID string, mk workerFactory, prof *profileWindow) (phaseResult, error) {
	r := phaseResult{name: name, inflight: inflight, gateway: gwPID != "", codes: map[string]int{}}
	if gwPID != "" {
		r.peakSinceStart = !resetPeak(gwPID)
	}
	var measuring, stop atomic.Bool
	type local struct {
		lats  []time.Duration
		ok    int
		codes map[string]int
	}
	locals := make([]local, inflight)
	var wg sync.WaitGroup
	for i := range inflight {
		do := mk(ctx, i)
		l := &locals[i]
		l.codes = map[string]int{}
		l.lats = make([]time.Duration, 0, 4096)
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				t := time.Now()
				out := do()
				d := time.Since(t)
				l.codes[out]++
				if measuring.Load() && (out == "200" || out == "approved") {
					l.lats = append(l.lats, d)
					l.ok++
				}
			}
		})
	}
	sleep(ctx, o.warmup)
	if prof != nil {
		if err := prof.p.startCPU(ctx, prof.gw, prof.name); err != nil {
			stop.Store(true)
			wg.Wait()
			return r, err
		}
	}
	cpu0 := pr.sample()
	measuring.Store(true)
	t0 := time.Now()
	sleep(ctx, o.duration)
	measuring.Store(false)
	r.window = time.Since(t0)
	r.cpu = deltaOf(cpu0, pr.sample())
	var profErr error
	if prof != nil {
		profErr = prof.p.stopCPU(ctx, prof.gw, prof.name)
	}
	stop.Store(true)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return r, err
	}
	if profErr != nil {
		return r, profErr
	}
	if gwPID != "" {
		r.peakKiB, _ = memKiB(gwPID, "VmHWM")
	}
	for _, l := range locals {
		r.lats = append(r.lats, l.lats...)
		r.ok += l.ok
		for k, v := range l.codes {
			r.codes[k] += v
		}
	}
	slices.Sort(r.lats)
	_, _, _, others := r.cpu.percent()
	r.rounds = []roundFigures{{rate: r.rate(), p50: r.pct(50), othersPct: others}}
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
