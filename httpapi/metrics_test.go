package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// testClock is a clock the fake Confirmer moves forward, so latencies are
// exact. Safe for concurrent use.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Unix(1_700_000_000, 0)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// scripted is one answer of the scripted Confirmer: after the person
// "took" elapsed, the path and the error.
type scripted struct {
	elapsed time.Duration
	path    auth.Path
	err     error
}

// scriptedConfirmer answers by transaction id.
func scriptedConfirmer(clock *testClock, script map[string]scripted) *fakeConfirmer {
	return &fakeConfirmer{confirm: func(_ context.Context, req auth.Request) (auth.Decision, error) {
		s, ok := script[req.TransactionID]
		if !ok {
			panic("no script for " + req.TransactionID)
		}
		clock.Advance(s.elapsed)
		return auth.Decision{Path: s.path}, s.err
	}}
}

const testKey = "metrics-test-key"

func authed() map[string]string { return map[string]string{"Authorization": "Bearer " + testKey} }

// TestMetricsExposition drives every kind of answer through the handler
// and compares the exposition with the expected text: decided requests by
// outcome and path, refusals by reason (and limit), the latency histogram,
// the pending gauge, the XMPP state read at scrape time.
func TestMetricsExposition(t *testing.T) {
	clock := newTestClock()
	f := scriptedConfirmer(clock, map[string]scripted{
		"OK1":   {1500 * time.Millisecond, auth.PathIQ, nil},
		"OK2":   {40 * time.Millisecond, auth.PathMessage, nil},
		"NO":    {3 * time.Second, auth.PathMessage, auth.ErrDenied},
		"LATE":  {60 * time.Second, auth.PathFallback, auth.ErrTimeout},
		"GONE":  {200 * time.Millisecond, auth.PathIQ, auth.ErrUnreachable},
		"SAME":  {0, "", auth.ErrConflict},
		"SEND":  {0, "", auth.ErrNotConnected},
		"SHUT":  {90 * time.Second, auth.PathIQ, auth.ErrShuttingDown},
		"ODD":   {5 * time.Millisecond, "", auth.ErrServer},
		"QUIT":  {2 * time.Second, auth.PathMessage, auth.ErrCanceled},
		"NEVER": {},
	})
	connected, reconnects := true, uint64(2)
	var statsMu sync.Mutex
	m := NewMetrics(MetricsOptions{Version: "v1.2.3", XMPP: func() (bool, uint64) {
		statsMu.Lock()
		defer statsMu.Unlock()
		return connected, reconnects
	}})
	frozen := func() time.Time { return time.Unix(1_700_000_000, 0) }
	h, _ := newHandler(t, f, Options{
		Metrics: m, Now: clock.Now, APIKeys: []string{testKey},
		Limiter: NewLimiter(Limits{PendingPerJID: 0, RequestsPerJIDPerMinute: 1}, frozen),
	})

	ask := func(jid, txn string) int {
		t.Helper()
		return do(t, h, "GET", "/auth?jid="+jid+"&domain=shop.example&method=GET&transaction_id="+txn, "", authed()).Code
	}
	// One JID per request: the JID bucket holds one token (a minute's worth).
	for i, c := range []struct {
		jid, txn string
		code     int
	}{
		{"a@example.org/phone", "OK1", 200},
		{"b@example.org", "OK2", 200},
		{"c@example.org", "NO", 401},
		{"d@example.org/phone", "LATE", 401},
		{"e@example.org/phone", "GONE", 523},
		{"f@example.org", "SAME", 409},
		{"g@example.org", "SEND", 523},
		{"h@example.org/phone", "SHUT", 523},
		{"i@example.org", "ODD", 520},
		{"j@example.org", "QUIT", 499},
		{"a@example.org", "NEVER", 429}, // a's token is spent
	} {
		if got := ask(c.jid, c.txn); got != c.code {
			t.Fatalf("request %d (%s): %d, want %d", i, c.txn, got, c.code)
		}
	}
	if w := do(t, h, "GET", "/auth?jid=a@example.org", "", authed()); w.Code != 400 {
		t.Fatalf("invalid: %d", w.Code)
	}
	if w := do(t, h, "GET", "/auth?jid=k@example.org&domain=x&method=GET", "", nil); w.Code != 403 {
		t.Fatalf("forbidden: %d", w.Code)
	}
	if w := do(t, h, "POST", "/auth", strings.Repeat("x", DefaultMaxBodyBytes+1), map[string]string{
		"Authorization": "Bearer " + testKey, "Content-Type": "application/x-www-form-urlencoded"}); w.Code != 413 {
		t.Fatalf("too large: %d", w.Code)
	}
	f.readyErr = auth.ErrNotConnected
	if got := ask("l@example.org", "NEVER"); got != 523 {
		t.Fatalf("not ready: %d", got)
	}
	// Neither a 405 nor a 404 nor the health endpoints count: they are
	// not requests to ask anyone.
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/nowhere"} {
		do(t, h, "GET", p, "", nil)
	}
	do(t, h, "PUT", "/auth", "", authed())

	const expected = `
# HELP http_auth_build_info Always 1; the version label is the gateway's version.
# TYPE http_auth_build_info gauge
http_auth_build_info{version="v1.2.3"} 1
# HELP http_auth_decision_duration_seconds Time from a request to /auth to its answer, for the requests the person was asked about, by outcome.
# TYPE http_auth_decision_duration_seconds histogram
http_auth_decision_duration_seconds_bucket{outcome="approved",le="0.01"} 0
http_auth_decision_duration_seconds_bucket{outcome="approved",le="0.025"} 0
http_auth_decision_duration_seconds_bucket{outcome="approved",le="0.05"} 1
http_auth_decision_duration_seconds_bucket{outcome="approved",le="0.1"} 1
http_auth_decision_duration_seconds_bucket{outcome="approved",le="0.25"} 1
http_auth_decision_duration_seconds_bucket{outcome="approved",le="0.5"} 1
http_auth_decision_duration_seconds_bucket{outcome="approved",le="1"} 1
http_auth_decision_duration_seconds_bucket{outcome="approved",le="2.5"} 2
http_auth_decision_duration_seconds_bucket{outcome="approved",le="5"} 2
http_auth_decision_duration_seconds_bucket{outcome="approved",le="10"} 2
http_auth_decision_duration_seconds_bucket{outcome="approved",le="30"} 2
http_auth_decision_duration_seconds_bucket{outcome="approved",le="60"} 2
http_auth_decision_duration_seconds_bucket{outcome="approved",le="120"} 2
http_auth_decision_duration_seconds_bucket{outcome="approved",le="300"} 2
http_auth_decision_duration_seconds_bucket{outcome="approved",le="+Inf"} 2
http_auth_decision_duration_seconds_sum{outcome="approved"} 1.54
http_auth_decision_duration_seconds_count{outcome="approved"} 2
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="0.01"} 0
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="0.025"} 0
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="0.05"} 0
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="0.1"} 0
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="0.25"} 0
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="0.5"} 0
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="1"} 0
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="2.5"} 1
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="5"} 1
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="10"} 1
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="30"} 1
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="60"} 1
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="120"} 1
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="300"} 1
http_auth_decision_duration_seconds_bucket{outcome="canceled",le="+Inf"} 1
http_auth_decision_duration_seconds_sum{outcome="canceled"} 2
http_auth_decision_duration_seconds_count{outcome="canceled"} 1
http_auth_decision_duration_seconds_bucket{outcome="denied",le="0.01"} 0
http_auth_decision_duration_seconds_bucket{outcome="denied",le="0.025"} 0
http_auth_decision_duration_seconds_bucket{outcome="denied",le="0.05"} 0
http_auth_decision_duration_seconds_bucket{outcome="denied",le="0.1"} 0
http_auth_decision_duration_seconds_bucket{outcome="denied",le="0.25"} 0
http_auth_decision_duration_seconds_bucket{outcome="denied",le="0.5"} 0
http_auth_decision_duration_seconds_bucket{outcome="denied",le="1"} 0
http_auth_decision_duration_seconds_bucket{outcome="denied",le="2.5"} 0
http_auth_decision_duration_seconds_bucket{outcome="denied",le="5"} 1
http_auth_decision_duration_seconds_bucket{outcome="denied",le="10"} 1
http_auth_decision_duration_seconds_bucket{outcome="denied",le="30"} 1
http_auth_decision_duration_seconds_bucket{outcome="denied",le="60"} 1
http_auth_decision_duration_seconds_bucket{outcome="denied",le="120"} 1
http_auth_decision_duration_seconds_bucket{outcome="denied",le="300"} 1
http_auth_decision_duration_seconds_bucket{outcome="denied",le="+Inf"} 1
http_auth_decision_duration_seconds_sum{outcome="denied"} 3
http_auth_decision_duration_seconds_count{outcome="denied"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="0.01"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="0.025"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="0.05"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="0.1"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="0.25"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="0.5"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="1"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="2.5"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="5"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="10"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="30"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="60"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="120"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="300"} 1
http_auth_decision_duration_seconds_bucket{outcome="error",le="+Inf"} 1
http_auth_decision_duration_seconds_sum{outcome="error"} 0.005
http_auth_decision_duration_seconds_count{outcome="error"} 1
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="0.01"} 0
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="0.025"} 0
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="0.05"} 0
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="0.1"} 0
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="0.25"} 0
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="0.5"} 0
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="1"} 0
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="2.5"} 0
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="5"} 0
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="10"} 0
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="30"} 0
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="60"} 1
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="120"} 1
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="300"} 1
http_auth_decision_duration_seconds_bucket{outcome="timeout",le="+Inf"} 1
http_auth_decision_duration_seconds_sum{outcome="timeout"} 60
http_auth_decision_duration_seconds_count{outcome="timeout"} 1
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="0.01"} 0
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="0.025"} 0
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="0.05"} 0
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="0.1"} 0
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="0.25"} 1
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="0.5"} 1
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="1"} 1
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="2.5"} 1
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="5"} 1
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="10"} 1
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="30"} 1
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="60"} 1
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="120"} 2
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="300"} 2
http_auth_decision_duration_seconds_bucket{outcome="unreachable",le="+Inf"} 2
http_auth_decision_duration_seconds_sum{outcome="unreachable"} 90.2
http_auth_decision_duration_seconds_count{outcome="unreachable"} 2
# HELP http_auth_pending_requests Requests to /auth waiting for the person's answer.
# TYPE http_auth_pending_requests gauge
http_auth_pending_requests 0
# HELP http_auth_refused_total Requests to /auth refused before the person was asked, by reason (invalid, too_large, forbidden, rate_limited, conflict, not_connected, shutting_down, error) and, for rate_limited, the limit's configuration key.
# TYPE http_auth_refused_total counter
http_auth_refused_total{limit="",reason="conflict"} 1
http_auth_refused_total{limit="",reason="forbidden"} 1
http_auth_refused_total{limit="",reason="invalid"} 1
http_auth_refused_total{limit="",reason="not_connected"} 2
http_auth_refused_total{limit="",reason="shutting_down"} 0
http_auth_refused_total{limit="",reason="too_large"} 1
http_auth_refused_total{limit="limit_pending_per_jid",reason="rate_limited"} 0
http_auth_refused_total{limit="limit_pending_total",reason="rate_limited"} 0
http_auth_refused_total{limit="limit_requests_per_caller_per_second",reason="rate_limited"} 0
http_auth_refused_total{limit="limit_requests_per_jid_per_minute",reason="rate_limited"} 1
# HELP http_auth_requests_total Requests to /auth the person was asked about, by outcome (approved, denied, timeout, unreachable, error, canceled) and delivery path (iq, message, fallback; none when unknown).
# TYPE http_auth_requests_total counter
http_auth_requests_total{outcome="approved",path="iq"} 1
http_auth_requests_total{outcome="approved",path="message"} 1
http_auth_requests_total{outcome="canceled",path="message"} 1
http_auth_requests_total{outcome="denied",path="message"} 1
http_auth_requests_total{outcome="error",path="none"} 1
http_auth_requests_total{outcome="timeout",path="fallback"} 1
http_auth_requests_total{outcome="unreachable",path="iq"} 2
# HELP http_auth_xmpp_connected 1 while the stream to the XMPP server is up, else 0.
# TYPE http_auth_xmpp_connected gauge
http_auth_xmpp_connected 1
# HELP http_auth_xmpp_reconnects_total Streams to the XMPP server lost while running; each is followed by reconnection attempts.
# TYPE http_auth_xmpp_reconnects_total counter
http_auth_xmpp_reconnects_total 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(expected)); err != nil {
		t.Fatal(err)
	}

	// The XMPP metrics are read at scrape time.
	statsMu.Lock()
	connected, reconnects = false, 3
	statsMu.Unlock()
	const down = `
# HELP http_auth_xmpp_connected 1 while the stream to the XMPP server is up, else 0.
# TYPE http_auth_xmpp_connected gauge
http_auth_xmpp_connected 0
# HELP http_auth_xmpp_reconnects_total Streams to the XMPP server lost while running; each is followed by reconnection attempts.
# TYPE http_auth_xmpp_reconnects_total counter
http_auth_xmpp_reconnects_total 3
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(down), MetricXMPPConnected, MetricXMPPReconnects); err != nil {
		t.Fatal(err)
	}
}

// The pending gauge counts the requests waiting for the person, and goes
// back to zero when they end.
func TestMetricsPending(t *testing.T) {
	release := make(chan struct{})
	asked := make(chan struct{}, 2)
	f := &fakeConfirmer{confirm: func(ctx context.Context, req auth.Request) (auth.Decision, error) {
		asked <- struct{}{}
		<-release
		return auth.Decision{Path: auth.PathIQ}, nil
	}}
	m := NewMetrics(MetricsOptions{})
	h, _ := newHandler(t, f, Options{Metrics: m})
	done := make(chan int, 2)
	for _, txn := range []string{"P1", "P2"} {
		go func() { done <- do(t, h, "GET", "/auth?"+okParams+"&transaction_id="+txn, "", nil).Code }()
	}
	<-asked
	<-asked
	if got := testutil.ToFloat64(m.pending); got != 2 {
		t.Fatalf("pending = %v while two wait, want 2", got)
	}
	close(release)
	for range 2 {
		if code := <-done; code != 200 {
			t.Fatalf("code %d", code)
		}
	}
	if got := testutil.ToFloat64(m.pending); got != 0 {
		t.Fatalf("pending = %v after the answers, want 0", got)
	}
}

// /metrics serves the Prometheus text format on the API by default; with
// MetricsElsewhere only MetricsHandler serves it (metrics_bind_address).
func TestMetricsEndpoint(t *testing.T) {
	m := NewMetrics(MetricsOptions{Version: "v9"})
	h, _ := newHandler(t, &fakeConfirmer{}, Options{Metrics: m})
	w := do(t, h, "GET", "/metrics", "", nil)
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain; version=0.0.4") ||
		!strings.Contains(w.Body.String(), `http_auth_build_info{version="v9"} 1`) {
		t.Fatalf("GET /metrics: %d %q\n%s", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	if w := do(t, h, "POST", "/metrics", "", nil); w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /metrics: %d Allow=%q", w.Code, w.Header().Get("Allow"))
	}

	apart, _ := newHandler(t, &fakeConfirmer{}, Options{Metrics: m, MetricsElsewhere: true})
	if w := do(t, apart, "GET", "/metrics", "", nil); w.Code != 404 {
		t.Fatalf("GET /metrics with MetricsElsewhere: %d, want 404", w.Code)
	}
	mh := MetricsHandler(m)
	if w := do(t, mh, "GET", "/metrics", "", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "http_auth_refused_total") {
		t.Fatalf("MetricsHandler GET /metrics: %d", w.Code)
	}
	if w := do(t, mh, "GET", "/auth?"+okParams, "", nil); w.Code != 404 {
		t.Fatalf("MetricsHandler GET /auth: %d, want 404", w.Code)
	}
	if w := do(t, mh, "DELETE", "/metrics", "", nil); w.Code != 405 {
		t.Fatalf("MetricsHandler DELETE /metrics: %d, want 405", w.Code)
	}
}

// The metric names and help texts follow the Prometheus conventions
// (promlint: units, _total on counters, ...).
func TestMetricsLint(t *testing.T) {
	m := NewMetrics(MetricsOptions{Version: "v1", XMPP: func() (bool, uint64) { return true, 0 }})
	m.decided(outcome{status: "approved"}, "iq", time.Second)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil || len(problems) > 0 {
		t.Fatalf("promlint: %v %+v", err, problems)
	}
}

// The runtime collectors are on the metrics' own registry, not the
// process-wide default one.
func TestMetricsOwnRegistry(t *testing.T) {
	m := NewMetrics(MetricsOptions{Runtime: true})
	n, err := testutil.GatherAndCount(m.Registry(), "go_goroutines", "process_open_fds")
	if err != nil || n == 0 {
		t.Fatalf("runtime metrics: %d, %v", n, err)
	}
	other := NewMetrics(MetricsOptions{Runtime: true}) // a second one must not clash
	if _, err := other.Registry().Gather(); err != nil {
		t.Fatal(err)
	}
}

// TestHealthEndpoints: /healthz is 200 while the process serves; /readyz
// follows the Confirmer's Ready, with a one-line reason; neither is
// logged nor counted.
func TestHealthEndpoints(t *testing.T) {
	tests := []struct {
		name     string
		readyErr error
		code     int
		body     string
		json     jsonReply
	}{
		{"ready", nil, 200, "ok\n", jsonReply{}},
		{"not connected", auth.ErrNotConnected, 503, "not_ready: the gateway is not connected to its XMPP server\n",
			jsonReply{Status: "not_ready", Detail: "the gateway is not connected to its XMPP server"}},
		{"shutting down", auth.ErrShuttingDown, 503, "not_ready: the gateway is shutting down\n",
			jsonReply{Status: "not_ready", Detail: "the gateway is shutting down"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(MetricsOptions{})
			h, logs := newHandler(t, &fakeConfirmer{readyErr: tc.readyErr}, Options{Metrics: m})
			if w := do(t, h, "GET", "/healthz", "", nil); w.Code != 200 || w.Body.String() != "ok\n" {
				t.Errorf("GET /healthz: %d %q", w.Code, w.Body.String())
			}
			w := do(t, h, "GET", "/readyz", "", nil)
			if w.Code != tc.code || w.Body.String() != tc.body {
				t.Errorf("GET /readyz: %d %q, want %d %q", w.Code, w.Body.String(), tc.code, tc.body)
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			if tc.code != 200 {
				if got := decodeJSON(t, do(t, h, "GET", "/readyz", "", map[string]string{"Accept": "application/json"})); got != tc.json {
					t.Errorf("JSON %+v, want %+v", got, tc.json)
				}
			}
			if w := do(t, h, "HEAD", "/readyz", "", nil); w.Code != tc.code {
				t.Errorf("HEAD /readyz: %d", w.Code)
			}
			for _, p := range []string{"/healthz", "/readyz"} {
				w := do(t, h, "POST", p, "", nil)
				if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" || w.Body.String() != "method_not_allowed: use GET or HEAD\n" {
					t.Errorf("POST %s: %d Allow=%q %q", p, w.Code, w.Header().Get("Allow"), w.Body.String())
				}
			}
			do(t, h, "GET", "/metrics", "", nil)
			if l := logs.String(); l != "" {
				t.Errorf("health checks were logged:\n%s", l)
			}
			if n := testutil.CollectAndCount(m.requests) + testutil.CollectAndCount(m.latency); n != 0 {
				t.Errorf("health checks were counted: %d series", n)
			}
		})
	}
}

// TestAuditLineJSON: one approval, logged as JSON, gives exactly one
// audit line with the stable attributes an operator greps for.
func TestAuditLineJSON(t *testing.T) {
	clock := newTestClock()
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := scriptedConfirmer(clock, map[string]scripted{
		"AUDIT1": {2500 * time.Millisecond, auth.PathFallback, nil},
		"AUDIT2": {7 * time.Second, auth.PathMessage, auth.ErrDenied},
		"AUDIT3": {0, "", auth.ErrNotConnected},
	})
	h, _ := newHandler(t, f, Options{Logger: logger, Now: clock.Now, APIKeys: []string{testKey}})

	decisions := func() []map[string]any {
		var out []map[string]any
		for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("not JSON: %v: %s", err, line)
			}
			if m["msg"] == "decision" {
				out = append(out, m)
			}
		}
		return out
	}
	w := do(t, h, "GET", "/auth?jid=alice@example.org/phone&domain=shop.example&method=POST&transaction_id=AUDIT1", "", authed())
	if w.Code != 200 {
		t.Fatalf("code %d", w.Code)
	}
	got := decisions()
	if len(got) != 1 {
		t.Fatalf("%d decision lines, want 1:\n%s", len(got), logs.String())
	}
	line := got[0]
	delete(line, "time")
	want := map[string]any{
		"level":     "INFO",
		"msg":       "decision",
		"component": "http",
		"jid":       "alice@example.org/phone",
		"txn":       "AUDIT1",
		"caller":    KeyID(testKey),
		"outcome":   "approved",
		"path":      "fallback",
		"code":      float64(200),
		"elapsed":   float64(2500 * time.Millisecond), // nanoseconds, as slog's JSON handler writes durations
	}
	if len(line) != len(want) {
		t.Errorf("audit line %v\nwant %v", line, want)
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %#v, want %#v", k, line[k], v)
		}
	}

	// A denial carries its path too; a request never sent has none.
	do(t, h, "GET", "/auth?jid=alice@example.org&domain=shop.example&method=POST&transaction_id=AUDIT2", "", authed())
	do(t, h, "GET", "/auth?jid=bob@example.org&domain=shop.example&method=POST&transaction_id=AUDIT3", "", authed())
	got = decisions()
	if len(got) != 3 {
		t.Fatalf("%d decision lines, want 3:\n%s", len(got), logs.String())
	}
	if got[1]["outcome"] != "denied" || got[1]["path"] != "message" || got[1]["code"] != float64(401) || got[1]["elapsed"] != float64(7*time.Second) {
		t.Errorf("denial: %v", got[1])
	}
	if _, ok := got[2]["path"]; ok || got[2]["outcome"] != "unreachable" || got[2]["code"] != float64(523) {
		t.Errorf("not connected: %v", got[2])
	}
	// Health checks stay out of the log.
	before := logs.String()
	for _, p := range []string{"/healthz", "/readyz"} {
		do(t, h, "GET", p, "", nil)
	}
	if logs.String() != before {
		t.Errorf("health checks were logged: %s", strings.TrimPrefix(logs.String(), before))
	}
}
