package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// report is everything printed at the end.
type report struct {
	m                     machine
	opts                  *options
	loadBefore, loadAfter string
	rows                  []*phaseResult
	capacity              *capacityResult
	peakRSSKiB            int64 // the throughput gateway's VmHWM over its whole life
	elapsed               time.Duration
	gwVersion             string
	bodies                int // languages of the message form
}

func (rp *report) find(name string, inflight int) *phaseResult {
	for _, r := range rp.rows {
		if r.name == name && r.inflight == inflight {
			return r
		}
	}
	return nil
}

func (rp *report) print(w io.Writer) {
	o := rp.opts
	fmt.Fprintf(w, "\n### http-auth benchmark (make bench)\n\n")
	fmt.Fprintf(w, "- machine: %d CPUs, %s; gateway built with %s; Prosody %s with gc = { mode = \"generational\" }\n",
		rp.m.nproc, rp.m.cpuModel, rp.m.goVer, rp.m.prosody)
	fmt.Fprintf(w, "- load average (1, 5, 15 min) before: %s; after: %s\n", rp.loadBefore, rp.loadAfter)
	fmt.Fprintf(w, "- gateway: %s as a separate process, log_level=info (one line per decision, to a file), limits off (HTTPAUTH_LIMIT_*=0)\n", rp.gwVersion)
	fmt.Fprintf(w, "- load: %d XMPP users (xmpptest, one resource each) approving every confirm at once; keep-alive HTTP/1.1 client (%s), GET /auth, timeout=%d; "+
		"each phase %v measured after %v of warm-up; a level's phases run back to back\n", o.sessions, o.httpClient, requestTimeout, o.duration, o.warmup)
	fmt.Fprintf(w, "- ceiling: a bare XEP-0114 component (%s) on the same Prosody, no HTTP, no gateway; iq confirms to full JIDs "+
		"(and, for reference, the gateway's message form with its %d bodies to bare JIDs)\n", ceilingDomain, rp.bodies)
	if o.profile != "" {
		fmt.Fprintf(w, "- profiling build (-profile): a CPU profile runs in the gateway during each gateway row's measured window (its sampling costs the gateway a little CPU); "+
			"the capacity gateway runs a GC and writes a heap profile before the requests and once all are pending\n")
	}
	fmt.Fprintln(w)

	t := &table{header: []string{"phase", "in flight", "per s", "× ceiling", "p50", "p90", "p99", "p50 × ceiling",
		"outcomes (whole phase)", "gw CPU per approval", "CPU % prosody / gw / driver / others", "gw peak RSS"}}
	noisy := false
	for _, r := range rp.rows {
		ceil := rp.find("ceiling iq", r.inflight)
		ratio, p50ratio := "", ""
		if ceil != nil {
			ratio = fmt.Sprintf("%.2f", rateRatio(r, ceil))
			p50ratio = fmt.Sprintf("%.2f", p50Ratio(r, ceil))
		}
		if mc := rp.find("ceiling message", r.inflight); r.name == "gateway message" && mc != nil {
			ratio += fmt.Sprintf(" (%.2f of msg)", rateRatio(r, mc))
		}
		pc, gc, dc, oc := r.cpu.percent()
		cpu := fmt.Sprintf("%.0f / - / %.0f / %.0f", pc, dc, oc)
		gwcpu, peak := "-", "-"
		if r.gateway {
			cpu = fmt.Sprintf("%.0f / %.0f / %.0f / %.0f", pc, gc, dc, oc)
			gwcpu = fmt.Sprintf("%.1f µs", float64(r.gwCPUPerOp())/float64(time.Microsecond))
			peak = fmtKiB(r.peakKiB)
			if r.peakSinceStart {
				peak += " (since start)"
			}
		}
		name := r.name
		if r.maxOthers() > noisyPct {
			name += " (!)"
			noisy = true
		}
		t.add(name, strconv.Itoa(r.inflight), fmt.Sprintf("%.0f", r.rate()), ratio,
			fmtDur(r.pct(50)), fmtDur(r.pct(90)), fmtDur(r.pct(99)), p50ratio,
			r.codesString(), gwcpu, cpu, peak)
	}
	if c := rp.capacity; c != nil {
		pc, gc, dc, oc := deltaOf(c.cpu0, c.cpu1).percent()
		perReq := (c.cpu1.gateway - c.cpu0.gateway) / time.Duration(c.n)
		t.add(fmt.Sprintf("capacity: pending, never answered, timeout=%d (row: lateness past the deadline)", int(c.timeout/time.Second)),
			strconv.Itoa(c.n), "-", "-",
			fmtLate(c.latePct(50)), fmtLate(c.latePct(90)), fmtLate(c.latePct(99)), "-",
			codesOf(c.codes), fmt.Sprintf("%.1f µs per request", float64(perReq)/float64(time.Microsecond)),
			fmt.Sprintf("%.0f / %.0f / %.0f / %.0f", pc, gc, dc, oc),
			fmtKiB(c.pendingKiB)+" pending")
	}
	t.write(w)
	if o.rounds > 1 {
		fmt.Fprintf(w, "\n%d rounds: rates, latencies and CPU pooled over the rounds; ratios are the median of each round's ratio (figures measured seconds apart).\n", o.rounds)
	}
	if noisy {
		fmt.Fprintf(w, "\n(!) other processes used more than %d%% of a core during a round of this row: its figures and ratios are unreliable; run again on a quieter machine or with -rounds.\n", noisyPct)
	}

	if c := rp.capacity; c != nil {
		fmt.Fprintf(w, "\ncapacity: %d requests for one logged-in user who never answers (iq to %s), timeout=%d, sent over at most %d connections being opened at once (one request per connection):\n",
			c.n, idleJID(), int(c.timeout/time.Second), o.rampInflight)
		fmt.Fprintf(w, "- all written after %v; the person held %d of them after %v\n", c.sendTime.Round(time.Millisecond), c.delivered, c.allPending.Round(time.Millisecond))
		fmt.Fprintf(w, "- gateway RSS: %s before (fresh gateway after 200 approvals), %s with all pending: %.1f KiB per pending request; peak %s over the phase%s\n",
			fmtKiB(c.baselineKiB), fmtKiB(c.pendingKiB), c.bytesPerPending()/1024, fmtKiB(c.peakKiB), map[bool]string{false: " (since start)", true: ""}[c.peakReset])
		if c.settledSamples > 0 {
			fmt.Fprintf(w, "- gateway RSS settled just before the first deadline (median of the %d samples in the last %v before the first answer): %s: %.1f KiB per pending request "+
				"(the figure above, and the target's verdict, use the highest sample)\n",
				c.settledSamples, settledWindow, fmtKiB(c.settledKiB), c.settledBytesPerPending()/1024)
		} else {
			fmt.Fprintf(w, "- gateway RSS settled just before the first deadline: no sample in the last %v before the first answer\n", settledWindow)
		}
		if b, m := c.metricsBase, c.metricsPending; b != nil && m != nil {
			per := func(key string) float64 { return float64(m[key]-b[key]) / float64(c.n) }
			fmt.Fprintf(w, "- gateway runtime/metrics after a GC (profiling build), before the requests -> with all pending: goroutines %d -> %d (%.2f per pending request; runtime's own included), "+
				"live heap %s -> %s (%.1f KiB per pending request), goroutine stacks %s -> %s (%.1f KiB per pending request)\n",
				b["/sched/goroutines:goroutines"], m["/sched/goroutines:goroutines"], per("/sched/goroutines:goroutines"),
				fmtBytes(b["/gc/heap/live:bytes"]), fmtBytes(m["/gc/heap/live:bytes"]), per("/gc/heap/live:bytes")/1024,
				fmtBytes(b["/memory/classes/heap/stacks:bytes"]), fmtBytes(m["/memory/classes/heap/stacks:bytes"]), per("/memory/classes/heap/stacks:bytes")/1024)
		}
		fmt.Fprintf(w, "- gateway CPU: %.1f µs per request to send them, %.1f µs per request over the whole phase\n",
			float64((c.cpuPending.gateway-c.cpu0.gateway)/time.Duration(c.n))/float64(time.Microsecond),
			float64((c.cpu1.gateway-c.cpu0.gateway)/time.Duration(c.n))/float64(time.Microsecond))
		if len(c.lateness) > 0 {
			fmt.Fprintf(w, "- answers 401, measured from each request's deadline (written + %ds): min %s, p50 %s, p99 %s, max %s\n",
				int(c.timeout/time.Second), fmtLate(c.lateness[0]), fmtLate(c.latePct(50)), fmtLate(c.latePct(99)), fmtLate(c.lateness[len(c.lateness)-1]))
		}
		fmt.Fprintf(w, "- early (before the deadline): %d; late (more than 1 s after): %d; lost (no answer): %d; another status: %d\n",
			c.early, c.late, c.lost, c.wrong)
	}
	var failed []string
	for _, r := range rp.rows {
		if n := r.failures(); n > 0 {
			failed = append(failed, fmt.Sprintf("%s at %d in flight: %d (%s)", r.name, r.inflight, n, r.codesString()))
		}
	}
	if len(failed) == 0 {
		fmt.Fprintf(w, "\nfailures (any outcome but 200 / approved, warm-up included): none\n")
	} else {
		fmt.Fprintf(w, "\nFAILURES (any outcome but 200 / approved, warm-up included):\n- %s\n", strings.Join(failed, "\n- "))
	}
	if peak := rp.peakRSSKiB; peak > 0 {
		fmt.Fprintf(w, "\npeak RSS of the throughput gateway over all its phases: %s\n", fmtKiB(peak))
	}
	rp.printTargets(w)
	fmt.Fprintf(w, "\nmake bench driver total: %v\n", rp.elapsed.Round(time.Second))
}

// printTargets compares the run with the targets of issue 5.
func (rp *report) printTargets(w io.Writer) {
	fmt.Fprintf(w, "\ntargets of issue 5 (each against the ceiling of the same run):\n")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	ratio := func(name string, n int) {
		r, c := rp.find(name, n), rp.find("ceiling iq", n)
		if r == nil || c == nil {
			return
		}
		x := rateRatio(r, c)
		fmt.Fprintf(w, "- %s at %d in flight: %.2f of the ceiling (want >= 0.75): %s\n", name, n, x, verdict(x >= 0.75))
	}
	ratio("gateway iq", 50)
	ratio("gateway iq", 200)
	ratio("gateway message", 50)
	if r, c := rp.find("gateway iq", 1), rp.find("ceiling iq", 1); r != nil && c != nil {
		x := p50Ratio(r, c)
		fmt.Fprintf(w, "- gateway iq p50 at 1 in flight: %s, %.2f times the ceiling's %s (want <= 1.4): %s\n",
			fmtDur(r.pct(50)), x, fmtDur(c.pct(50)), verdict(x <= 1.4))
	}
	for _, name := range []string{"gateway iq", "gateway message"} {
		if r := rp.find(name, 50); r != nil {
			us := float64(r.gwCPUPerOp()) / float64(time.Microsecond)
			fmt.Fprintf(w, "- %s gateway CPU per approval at 50 in flight: %.1f µs (want <= 50): %s\n", name, us, verdict(us <= 50))
		}
	}
	if c := rp.capacity; c != nil {
		kib := c.bytesPerPending() / 1024
		fmt.Fprintf(w, "- %d pending: %.1f KiB each (want <= 12): %s\n", c.n, kib, verdict(kib <= 12))
		ok := c.early == 0 && c.late == 0 && c.lost == 0 && c.wrong == 0 && len(c.lateness) == c.n
		fmt.Fprintf(w, "- every one answered 401 within 1 s of its deadline (early %d, late %d, lost %d, other %d): %s\n",
			c.early, c.late, c.lost, c.wrong, verdict(ok))
	}
}

// noisyPct flags a row when other processes took more than this much CPU
// (% of one core) during one of its rounds.
const noisyPct = 50

func rateRatio(r, c *phaseResult) float64 {
	return medianRatio(r, c, func(f roundFigures) float64 { return f.rate })
}

func p50Ratio(r, c *phaseResult) float64 {
	return medianRatio(r, c, func(f roundFigures) float64 { return float64(f.p50) })
}

func codesOf(m map[string]int) string {
	r := phaseResult{codes: m}
	return r.codesString()
}

func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.3f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

func fmtLate(d time.Duration) string {
	return fmt.Sprintf("%+.3f s", d.Seconds())
}

func fmtKiB(k int64) string {
	return fmt.Sprintf("%.1f MiB", float64(k)/1024)
}

func fmtBytes(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// table renders a Markdown table padded to line up in a terminal.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	width := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-len([]rune(c))) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(t.header)
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
}
