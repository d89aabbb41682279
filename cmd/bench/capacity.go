package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/xmpptest"
)

// idleCounter is the person who is logged in and never answers: it only
// counts the confirm requests that reach it.
type idleCounter struct{ n atomic.Int64 }

func (ic *idleCounter) handle(_ *xmpptest.Client, s xmpptest.Stanza) {
	if s.HasConfirm() && s.Type != "result" && s.Type != "error" {
		ic.n.Add(1)
	}
}

// capacityResult is what became of the pending requests.
type capacityResult struct {
	n       int
	timeout time.Duration

	baselineKiB int64 // gateway VmRSS before the requests
	pendingKiB  int64 // the highest VmRSS seen while every request was pending
	peakKiB     int64 // VmHWM over the whole phase, the timeout burst included
	peakReset   bool  // false: peakKiB is since the gateway started

	// settledKiB is the median VmRSS of the settledSamples samples taken
	// in the last settledWindow before the first answer: what all n cost
	// once settled, just before the first deadline (0: no sample then).
	settledKiB     int64
	settledSamples int

	sendTime   time.Duration // first request sent to last request written
	allPending time.Duration // first request sent to the person holding all n
	delivered  int64         // confirm requests the person received

	lateness []time.Duration // past its deadline, of every 401, sorted
	codes    map[string]int
	early    int // answered 401 before the deadline
	late     int // answered 401 more than a second after it
	lost     int // no answer at all (connection error, client gave up)
	wrong    int // another status code

	cpu0, cpuPending, cpu1 cpuSample

	// With -profile: the profiling build's runtime/metrics before the
	// requests and with all pending (nil without).
	metricsBase, metricsPending map[string]int64
}

// settledWindow is how far before the first answer the RSS samples of the
// settled figure go.
const settledWindow = 2 * time.Second

func (c *capacityResult) bytesPerPending() float64 {
	return float64(c.pendingKiB-c.baselineKiB) * 1024 / float64(c.n)
}

func (c *capacityResult) settledBytesPerPending() float64 {
	return float64(c.settledKiB-c.baselineKiB) * 1024 / float64(c.n)
}

// rssSample is one VmRSS reading.
type rssSample struct {
	at  time.Time
	kib int64
}

// settledRSS is the median of the samples taken in the window before
// first, and how many there were.
func settledRSS(samples []rssSample, first time.Time, window time.Duration) (int64, int) {
	var in []int64
	for _, s := range samples {
		if !s.at.Before(first.Add(-window)) && s.at.Before(first) {
			in = append(in, s.kib)
		}
	}
	if len(in) == 0 {
		return 0, 0
	}
	slices.Sort(in)
	return in[len(in)/2], len(in)
}

// runCapacity sends o.pending requests for the idle person at once (opening
// at most o.rampInflight connections at a time), watches the gateway's RSS
// while they are all pending, and checks that each is answered 401 at its
// deadline: the moment its request was written plus the timeout. With
// prof, the gateway writes a heap profile and runtime/metrics before the
// requests (capacity-baseline) and once all are pending (capacity).
func runCapacity(ctx context.Context, o *options, gw *gatewayProc, pr procs, idle *idleCounter, prof *profiler, logf func(string, ...any)) (*capacityResult, error) {
	res := &capacityResult{n: o.pending, timeout: time.Duration(o.pendingTimeout) * time.Second, codes: map[string]int{}}

	// Warm the fresh gateway up (first stanzas, first connections), then
	// take the baseline.
	warm := newHTTPClient(64)
	do := httpWorker(warm, gw.base, fullJIDs(1))(ctx, 0)
	for range 200 {
		if out := do(); out != "200" {
			return nil, fmt.Errorf("capacity warm-up: %s", out)
		}
	}
	warm.CloseIdleConnections()
	sleep(ctx, time.Second)
	var err error
	if res.baselineKiB, err = memKiB(gw.pid, "VmRSS"); err != nil {
		return nil, err
	}
	if prof != nil {
		if res.metricsBase, err = prof.heap(ctx, gw, "capacity-baseline"); err != nil {
			return nil, err
		}
	}
	res.peakReset = resetPeak(gw.pid)
	idle.n.Store(0)

	tr := &http.Transport{
		Proxy:              nil,
		DisableKeepAlives:  true, // each connection carries one request
		DisableCompression: true,
		DialContext:        (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	target := authURL(gw.base, idleJID(), o.pendingTimeout)

	type outcome struct {
		wrote, end time.Time
		code       string
	}
	outs := make([]outcome, o.pending)
	sem := make(chan struct{}, o.rampInflight)
	var written, settled atomic.Int64
	var firstAnswer atomic.Bool
	var firstAnswerAt atomic.Int64 // UnixNano
	var wg sync.WaitGroup
	res.cpu0 = pr.sample()
	start := time.Now()
	for i := range o.pending {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wg.Go(func() {
			out := &outs[i]
			var once sync.Once
			release := func() { once.Do(func() { settled.Add(1); <-sem }) }
			defer release()
			trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
				if info.Err == nil {
					out.wrote = time.Now()
					written.Add(1)
				}
				release()
			}}
			rctx, cancel := context.WithTimeout(httptrace.WithClientTrace(ctx, trace), res.timeout+30*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(rctx, http.MethodGet, target, nil)
			if err != nil {
				out.code = "error"
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				out.code = "error"
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			out.end = time.Now()
			out.code = strconv.Itoa(resp.StatusCode)
			firstAnswerAt.CompareAndSwap(0, out.end.UnixNano())
			firstAnswer.Store(true)
		})
	}
	// Every request written, and every confirm at the person's client:
	// all n are pending in the gateway.
	for settled.Load() < int64(o.pending) && !firstAnswer.Load() && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	res.sendTime = time.Since(start)
	deliverBy := time.Now().Add(res.timeout / 2)
	for idle.n.Load() < written.Load() && !firstAnswer.Load() && ctx.Err() == nil && time.Now().Before(deliverBy) {
		time.Sleep(5 * time.Millisecond)
	}
	res.allPending = time.Since(start)
	res.delivered = idle.n.Load()
	res.cpuPending = pr.sample()
	logf("capacity: %d written in %v, %d delivered to the person after %v", written.Load(), res.sendTime.Round(time.Millisecond), res.delivered, res.allPending.Round(time.Millisecond))
	if prof != nil && !firstAnswer.Load() {
		if res.metricsPending, err = prof.heap(ctx, gw, "capacity"); err != nil {
			return nil, err
		}
		logf("capacity: heap profile and runtime/metrics written (%d goroutines)", res.metricsPending["/sched/goroutines:goroutines"])
	}
	// The highest RSS while they are all pending, until the first answer,
	// and the samples for the settled figure.
	var samples []rssSample
	for !firstAnswer.Load() && ctx.Err() == nil {
		if kib, err := memKiB(gw.pid, "VmRSS"); err == nil {
			res.pendingKiB = max(res.pendingKiB, kib)
			samples = append(samples, rssSample{time.Now(), kib})
		}
		time.Sleep(100 * time.Millisecond)
	}
	if at := firstAnswerAt.Load(); at != 0 {
		res.settledKiB, res.settledSamples = settledRSS(samples, time.Unix(0, at), settledWindow)
	}
	logf("capacity: RSS %d KiB highest, %d KiB settled, with all pending (baseline %d KiB); waiting for the answers", res.pendingKiB, res.settledKiB, res.baselineKiB)
	wg.Wait()
	res.cpu1 = pr.sample()
	res.peakKiB, _ = memKiB(gw.pid, "VmHWM")
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, out := range outs {
		res.codes[out.code]++
		switch {
		case out.code == "error" || out.wrote.IsZero():
			res.lost++
		case out.code != "401":
			res.wrong++
		default:
			l := out.end.Sub(out.wrote.Add(res.timeout))
			res.lateness = append(res.lateness, l)
			if l < 0 {
				res.early++
			} else if l > time.Second {
				res.late++
			}
		}
	}
	slices.Sort(res.lateness)
	return res, nil
}

// latePct returns the p-th percentile lateness (nearest rank).
func (c *capacityResult) latePct(p float64) time.Duration { return percentile(c.lateness, p) }
