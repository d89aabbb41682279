package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// fakeClock is a clock the tests move by hand. Safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// limitError returns err as a *LimitError, failing the test if it is not.
func limitError(t *testing.T, err error) *LimitError {
	t.Helper()
	le, ok := errors.AsType[*LimitError](err)
	if !ok {
		t.Fatalf("error %v, want a *LimitError", err)
	}
	return le
}

// mustAcquire acquires and fails the test on a refusal.
func mustAcquire(t *testing.T, l *Limiter, jid string, timeout time.Duration) func() {
	t.Helper()
	release, err := l.Acquire(jid, timeout)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", jid, err)
	}
	return release
}

// step is one move in a scripted test of a bucket: advance the clock,
// then ask; wantRetry 0 means the request must pass.
type step struct {
	advance   time.Duration
	key       string
	wantRetry time.Duration
}

func TestLimiterCallerBucket(t *testing.T) {
	clk := newFakeClock()
	l := NewLimiter(Limits{RequestsPerCallerPerSecond: 2}, clk.Now)
	steps := []step{
		{0, "a", 0}, {0, "a", 0}, {0, "a", 0}, {0, "a", 0}, // bursts of twice the rate
		{0, "a", time.Second},
		{0, "b", 0}, // another caller has its own bucket
		{499 * time.Millisecond, "a", time.Second},
		{time.Millisecond, "a", 0}, // one token every 500 ms
		{0, "a", time.Second},
		{10 * time.Second, "a", 0}, {0, "a", 0}, {0, "a", 0}, {0, "a", 0}, // refilled, but to 4 at most
		{0, "a", time.Second},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		err := l.AllowCaller(s.key)
		if s.wantRetry == 0 {
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			continue
		}
		le := limitError(t, err)
		if le.RetryAfter != s.wantRetry || le.Limit != LimitNameRequestsPerCallerPerSecond ||
			le.Detail != "caller a sent too many requests: at most 2 per second, bursts of 4 (limit_requests_per_caller_per_second)" {
			t.Fatalf("step %d: %+v", i, le)
		}
	}
}

func TestLimiterJIDBucket(t *testing.T) {
	tests := []struct {
		name      string
		lim       Limits
		burst     int
		interval  time.Duration
		wantRetry time.Duration // right after the burst
	}{
		{"burst of limit_pending_per_jid", Limits{PendingPerJID: 3, RequestsPerJIDPerMinute: 10}, 3, 6 * time.Second, 6 * time.Second},
		{"burst of a minute without a pending limit", Limits{RequestsPerJIDPerMinute: 10}, 10, 6 * time.Second, 6 * time.Second},
		{"one a minute", Limits{RequestsPerJIDPerMinute: 1}, 1, time.Minute, time.Minute},
		{"retry rounded up", Limits{PendingPerJID: 2, RequestsPerJIDPerMinute: 7}, 2, time.Minute / 7, 9 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			l := NewLimiter(tc.lim, clk.Now)
			for range tc.burst {
				mustAcquire(t, l, "alice@example.org", time.Minute)()
			}
			le := limitError(t, second(l.Acquire("alice@example.org", time.Minute)))
			want := fmt.Sprintf("alice@example.org was asked too often: at most %d per minute, bursts of %d (limit_requests_per_jid_per_minute)",
				tc.lim.RequestsPerJIDPerMinute, tc.burst)
			if le.Limit != LimitNameRequestsPerJIDPerMinute || le.Detail != want || le.RetryAfter != tc.wantRetry {
				t.Fatalf("got %+v", le)
			}
			mustAcquire(t, l, "bob@example.org", time.Minute)() // another JID
			clk.Advance(tc.interval - time.Second)
			if le := limitError(t, second(l.Acquire("alice@example.org", time.Minute))); le.RetryAfter != time.Second {
				t.Errorf("a second before the token: Retry-After %v", le.RetryAfter)
			}
			clk.Advance(time.Second)
			mustAcquire(t, l, "alice@example.org", time.Minute)()
			if _, err := l.Acquire("alice@example.org", time.Minute); err == nil {
				t.Error("a second token out of one interval")
			}
			// A long pause refills the bucket, to its burst at most.
			clk.Advance(time.Hour)
			for range tc.burst {
				mustAcquire(t, l, "alice@example.org", time.Minute)()
			}
			if _, err := l.Acquire("alice@example.org", time.Minute); err == nil {
				t.Error("more than the burst after a pause")
			}
			if n := l.Pending(); n != 0 {
				t.Errorf("Pending() = %d", n)
			}
		})
	}
}

func second(_ func(), err error) error { return err }

func TestLimiterPendingPerJID(t *testing.T) {
	clk := newFakeClock()
	l := NewLimiter(Limits{PendingPerJID: 2}, clk.Now)
	r1 := mustAcquire(t, l, "alice@example.org", 30*time.Second)
	r2 := mustAcquire(t, l, "alice@example.org", 60*time.Second)
	le := limitError(t, second(l.Acquire("alice@example.org", time.Second)))
	if le.Limit != LimitNamePendingPerJID || le.RetryAfter != 30*time.Second ||
		le.Detail != "alice@example.org already has 2 pending requests (limit_pending_per_jid)" {
		t.Fatalf("got %+v", le)
	}
	mustAcquire(t, l, "bob@example.org", time.Second)()
	clk.Advance(10 * time.Second)
	if le := limitError(t, second(l.Acquire("alice@example.org", time.Second))); le.RetryAfter != 20*time.Second {
		t.Errorf("Retry-After %v, want the first deadline, 20s away", le.RetryAfter)
	}
	clk.Advance(25 * time.Second) // past the deadline, not yet released
	if le := limitError(t, second(l.Acquire("alice@example.org", time.Second))); le.RetryAfter != time.Second {
		t.Errorf("Retry-After %v, want 1s at least", le.RetryAfter)
	}
	r1()
	r1() // twice changes nothing
	r3 := mustAcquire(t, l, "alice@example.org", time.Second)
	if _, err := l.Acquire("alice@example.org", time.Second); err == nil {
		t.Error("a third pending request")
	}
	if n := l.Pending(); n != 2 {
		t.Errorf("Pending() = %d, want 2", n)
	}
	r2()
	r3()
	if n, m := l.Pending(), len(l.jids.m); n != 0 || m != 0 {
		t.Errorf("Pending() = %d, %d JIDs kept", n, m)
	}

	t.Run("one", func(t *testing.T) {
		l := NewLimiter(Limits{PendingPerJID: 1}, clk.Now)
		defer mustAcquire(t, l, "alice@example.org", time.Second)()
		le := limitError(t, second(l.Acquire("alice@example.org", time.Second)))
		if le.Detail != "alice@example.org already has 1 pending request (limit_pending_per_jid)" {
			t.Errorf("detail %q", le.Detail)
		}
	})
	t.Run("with an empty bucket too", func(t *testing.T) {
		l := NewLimiter(Limits{PendingPerJID: 1, RequestsPerJIDPerMinute: 1}, clk.Now)
		defer mustAcquire(t, l, "alice@example.org", 10*time.Second)()
		le := limitError(t, second(l.Acquire("alice@example.org", time.Second)))
		if le.Limit != LimitNamePendingPerJID || le.RetryAfter != time.Minute {
			t.Errorf("got %+v, want the pending limit with the bucket's wait", le)
		}
	})
}

func TestLimiterPendingTotal(t *testing.T) {
	l := NewLimiter(Limits{PendingTotal: 2, PendingPerJID: 2}, newFakeClock().Now)
	r1 := mustAcquire(t, l, "alice@example.org", time.Minute)
	r2 := mustAcquire(t, l, "bob@example.org", time.Minute)
	for _, jid := range []string{"carol@example.org", "alice@example.org"} {
		le := limitError(t, second(l.Acquire(jid, time.Minute)))
		if le.Limit != LimitNamePendingTotal || le.RetryAfter != time.Second ||
			le.Detail != "the gateway already has 2 pending requests (limit_pending_total)" {
			t.Fatalf("%s: got %+v", jid, le)
		}
	}
	r1()
	r3 := mustAcquire(t, l, "carol@example.org", time.Minute)
	r2()
	r3()
	if n := l.Pending(); n != 0 {
		t.Errorf("Pending() = %d", n)
	}
}

// TestLimiterOff: zero disables every limit, and a nil Limiter is none.
func TestLimiterOff(t *testing.T) {
	for _, l := range []*Limiter{nil, NewLimiter(Limits{}, nil), NewLimiter(Limits{PendingPerJID: -1, PendingTotal: -1}, nil)} {
		for i := range 10_000 {
			if err := l.AllowCaller("a"); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Acquire("alice@example.org", time.Duration(i)); err != nil {
				t.Fatal(err)
			}
		}
		if l != nil && (len(l.callers.m) != 0 || len(l.jids.m) != 0) {
			t.Errorf("a limiter without limits keeps %d callers, %d JIDs", len(l.callers.m), len(l.jids.m))
		}
	}
}

// TestLimiterEviction: the tables forget idle full buckets, so memory
// stays bounded however many distinct callers and JIDs come by; what
// still limits somebody is never forgotten.
func TestLimiterEviction(t *testing.T) {
	const n = 30_000 // many times the bound
	t.Run("callers", func(t *testing.T) {
		clk := newFakeClock()
		l := NewLimiter(Limits{RequestsPerCallerPerSecond: 20}, clk.Now)
		peak := 0
		for i := range n {
			if err := l.AllowCaller("192.0.2." + strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Millisecond) // each bucket is full again after 50 ms
			peak = max(peak, len(l.callers.m))
		}
		if peak > sweepMinSize {
			t.Errorf("%d callers kept at the peak, want at most %d", peak, sweepMinSize)
		}
	})
	t.Run("JIDs", func(t *testing.T) {
		clk := newFakeClock()
		l := NewLimiter(Limits{PendingPerJID: 3, RequestsPerJIDPerMinute: 10}, clk.Now)
		peak := 0
		for i := range n {
			mustAcquire(t, l, fmt.Sprintf("u%d@example.org", i), time.Minute)()
			clk.Advance(10 * time.Millisecond) // full again after 6 s: 600 live
			peak = max(peak, len(l.jids.m))
		}
		// About 600 are live at any time: the table holds at most twice
		// that, or sweepMinSize.
		if peak > 2*sweepMinSize {
			t.Errorf("%d JIDs kept at the peak, want at most %d", peak, 2*sweepMinSize)
		}
	})
	t.Run("JIDs without a bucket go at once", func(t *testing.T) {
		l := NewLimiter(Limits{PendingPerJID: 3}, newFakeClock().Now)
		for i := range 1000 {
			mustAcquire(t, l, fmt.Sprintf("u%d@example.org", i), time.Minute)()
			if len(l.jids.m) != 0 {
				t.Fatalf("%d JIDs kept", len(l.jids.m))
			}
		}
	})
	t.Run("live state kept, table shrinks once idle", func(t *testing.T) {
		clk := newFakeClock()
		l := NewLimiter(Limits{PendingPerJID: 1, RequestsPerJIDPerMinute: 1, RequestsPerCallerPerSecond: 1}, clk.Now)
		held := mustAcquire(t, l, "held@example.org", time.Hour)
		if err := l.AllowCaller("busy"); err != nil {
			t.Fatal(err)
		}
		if err := l.AllowCaller("busy"); err != nil {
			t.Fatal(err)
		}
		// A flood at one instant: every bucket is live, none may go, and
		// the sweeps (at doubling sizes) keep them all.
		for i := range 10_000 {
			mustAcquire(t, l, fmt.Sprintf("u%d@example.org", i), time.Minute)()
			if err := l.AllowCaller(fmt.Sprintf("c%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if len(l.jids.m) < 10_000 || len(l.callers.m) < 10_000 {
			t.Fatalf("live buckets were dropped: %d JIDs, %d callers", len(l.jids.m), len(l.callers.m))
		}
		if _, err := l.Acquire("held@example.org", time.Minute); err == nil {
			t.Error("the held JID was forgotten")
		}
		if l.AllowCaller("busy") == nil {
			t.Error("the busy caller was forgotten")
		}
		// Once they are full again, the next use after sweepEvery keeps
		// only what still matters.
		clk.Advance(sweepEvery)
		mustAcquire(t, l, "new@example.org", time.Minute)()
		if err := l.AllowCaller("new"); err != nil {
			t.Fatal(err)
		}
		if len(l.jids.m) != 2 || len(l.callers.m) != 1 { // held, new; new
			t.Errorf("after the sweep: %d JIDs, %d callers", len(l.jids.m), len(l.callers.m))
		}
		if _, err := l.Acquire("held@example.org", time.Minute); err == nil {
			t.Error("the held JID was forgotten by the sweep")
		}
		held()
	})
}

func TestCallerKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::9", "2001:db8:1:2::/64"},
		{"::1", "::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := callerKey(tc.in); got != tc.want {
			t.Errorf("callerKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// holdMethod marks the requests a gatedConfirmer holds.
const holdMethod = "HOLD"

// gatedConfirmer approves at once, but holds requests whose method is
// holdMethod until its gate opens (or they are cancelled); Ready answers
// readyErr. Safe for concurrent use.
type gatedConfirmer struct {
	gate     chan struct{}
	asked    atomic.Int32
	readyErr atomic.Pointer[error]
}

func newGatedConfirmer() *gatedConfirmer { return &gatedConfirmer{gate: make(chan struct{})} }

func (g *gatedConfirmer) Confirm(ctx context.Context, req auth.Request) (auth.Decision, error) {
	g.asked.Add(1)
	if req.Method != holdMethod {
		return auth.Decision{Path: auth.PathIQ}, nil
	}
	select {
	case <-g.gate:
		return auth.Decision{Path: auth.PathIQ}, nil
	case <-ctx.Done():
		return auth.Decision{}, fmt.Errorf("test: %w", auth.ErrCanceled)
	}
}

func (g *gatedConfirmer) Ready() error {
	if p := g.readyErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (g *gatedConfirmer) setReady(err error) {
	if err == nil {
		g.readyErr.Store(nil)
	} else {
		g.readyErr.Store(&err)
	}
}

// holdParams ask alice, held by a gatedConfirmer.
const holdParams = "jid=alice@example.org&domain=example.com&method=" + holdMethod

// call is one request in the HTTP tests of the limits.
type call struct {
	query  string // after "/auth?"
	remote string // RemoteAddr; "" = httptest's 192.0.2.1:1234
	key    string // sent as Bearer when not ""
}

func (c call) request() *http.Request {
	r := httptest.NewRequest("GET", "/auth?"+c.query, nil)
	if c.remote != "" {
		r.RemoteAddr = c.remote
	}
	if c.key != "" {
		r.Header.Set("Authorization", "Bearer "+c.key)
	}
	return r
}

func serveCall(h http.Handler, c call, header ...string) *httptest.ResponseRecorder {
	r := c.request()
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestLimitsHTTP: each limit answers 429 with Retry-After, a body naming
// it and a warning; the refused request asks nobody; once the pending
// requests end, their slots are free again.
func TestLimitsHTTP(t *testing.T) {
	alice := call{query: okParams}
	tests := []struct {
		name   string
		lim    Limits
		keys   []string
		hold   []call // started first and kept pending
		before []call // answered (approved) before the checked call
		check  call
		retry  string
		detail string
		caller string // in the log
		after  []call // must pass once the held calls are released
	}{
		{
			name: "pending per JID",
			lim:  Limits{PendingPerJID: 3},
			hold: []call{
				{query: "jid=alice@example.org/a&domain=x&method=HOLD&timeout=90"},
				{query: "jid=Alice@Example.org/b&domain=x&method=HOLD&timeout=45"},
				{query: "jid=alice@example.org&domain=x&method=HOLD"},
			},
			check:  alice,
			retry:  "45",
			detail: "alice@example.org already has 3 pending requests (limit_pending_per_jid)",
			caller: "192.0.2.1",
			after:  []call{alice},
		},
		{
			name:   "JID rate",
			lim:    Limits{PendingPerJID: 3, RequestsPerJIDPerMinute: 10},
			before: []call{alice, alice, {query: "jid=alice@example.org/phone&domain=y&method=POST"}},
			check:  alice,
			retry:  "6",
			detail: "alice@example.org was asked too often: at most 10 per minute, bursts of 3 (limit_requests_per_jid_per_minute)",
			caller: "192.0.2.1",
			after:  []call{{query: "jid=bob@example.org&domain=x&method=GET"}},
		},
		{
			name:   "caller rate",
			lim:    Limits{RequestsPerCallerPerSecond: 1},
			before: []call{alice, {query: "jid=bob@example.org&domain=x&method=GET"}},
			check:  alice,
			retry:  "1",
			detail: "caller 192.0.2.1 sent too many requests: at most 1 per second, bursts of 2 (limit_requests_per_caller_per_second)",
			caller: "192.0.2.1",
			after:  []call{{query: okParams, remote: "192.0.2.2:1"}},
		},
		{
			name:   "caller rate per API key",
			lim:    Limits{RequestsPerCallerPerSecond: 1},
			keys:   testKeys,
			before: []call{{query: okParams, key: keyOne, remote: "192.0.2.7:1"}, {query: okParams, key: keyOne, remote: "192.0.2.8:1"}},
			check:  call{query: okParams, key: keyOne},
			retry:  "1",
			detail: "caller " + KeyID(keyOne) + " sent too many requests: at most 1 per second, bursts of 2 (limit_requests_per_caller_per_second)",
			caller: KeyID(keyOne),
			after:  []call{{query: okParams, key: keyTwo}},
		},
		{
			name:   "IPv6 callers by /64",
			lim:    Limits{RequestsPerCallerPerSecond: 1},
			before: []call{{query: okParams, remote: "[2001:db8::1]:1"}, {query: okParams, remote: "[2001:db8::2]:1"}},
			check:  call{query: okParams, remote: "[2001:db8::3]:1"},
			retry:  "1",
			detail: "caller 2001:db8::/64 sent too many requests: at most 1 per second, bursts of 2 (limit_requests_per_caller_per_second)",
			caller: "2001:db8::3",
			after:  []call{{query: okParams, remote: "[2001:db8:0:1::1]:1"}},
		},
		{
			name: "pending in all",
			lim:  Limits{PendingTotal: 2},
			hold: []call{
				{query: "jid=bob@example.org&domain=x&method=HOLD"},
				{query: "jid=carol@example.org&domain=x&method=HOLD"},
			},
			check:  alice,
			retry:  "1",
			detail: "the gateway already has 2 pending requests (limit_pending_total)",
			caller: "192.0.2.1",
			after:  []call{alice},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGatedConfirmer()
			lim := NewLimiter(tc.lim, newFakeClock().Now)
			logs := &syncBuffer{}
			h := New(Options{Confirmer: g, Logger: newTextLogger(logs), IDs: constReader(0), APIKeys: tc.keys, Limiter: lim})

			var wg sync.WaitGroup
			for _, c := range tc.hold {
				wg.Go(func() {
					if w := serveCall(h, c); w.Code != 200 {
						t.Errorf("held call %v: %d %s", c, w.Code, w.Body)
					}
				})
			}
			waitFor(t, "the held calls", func() bool { return int(g.asked.Load()) == len(tc.hold) })
			for _, c := range tc.before {
				if w := serveCall(h, c); w.Code != 200 {
					t.Fatalf("call %v: %d %s", c, w.Code, w.Body)
				}
			}
			asked := g.asked.Load()

			w := serveCall(h, tc.check)
			jw := serveCall(h, tc.check, "Accept", "application/json")
			if w.Code != 429 || w.Body.String() != "rate_limited: "+tc.detail+"\n" {
				t.Fatalf("got %d %q", w.Code, w.Body.String())
			}
			if got := w.Header().Get("Retry-After"); got != tc.retry {
				t.Errorf("Retry-After = %q, want %q", got, tc.retry)
			}
			if got := w.Header().Get("X-Transaction-Id"); got != "22222222" {
				t.Errorf("X-Transaction-Id = %q", got)
			}
			want := jsonReply{Status: "rate_limited", TransactionID: "22222222", JID: "alice@example.org", Detail: tc.detail}
			if got := decodeJSON(t, jw); jw.Code != 429 || got != want || jw.Header().Get("Retry-After") != tc.retry {
				t.Errorf("JSON: %d %+v, want %+v", jw.Code, got, want)
			}
			if got := g.asked.Load(); got != asked {
				t.Errorf("a refused call asked the person")
			}
			log := logs.String()
			for _, attr := range []string{`level=WARN msg="rate limited"`, "jid=alice@example.org", "caller=" + tc.caller,
				"limit=" + limitOf(tc.detail), "retry_after=" + tc.retry} {
				if !strings.Contains(log, attr) {
					t.Errorf("log lacks %q:\n%s", attr, log)
				}
			}
			assertNoKeyInLog(t, log, tc.keys...)

			close(g.gate)
			wg.Wait()
			if n := lim.Pending(); n != 0 {
				t.Errorf("Pending() = %d after every call ended", n)
			}
			for _, c := range tc.after {
				if w := serveCall(h, c); w.Code != 200 {
					t.Errorf("call %v after: %d %s", c, w.Code, w.Body)
				}
			}
		})
	}
}

// limitOf returns the limit named at the end of a detail: "... (name)".
func limitOf(detail string) string {
	return strings.TrimSuffix(detail[strings.LastIndex(detail, "(")+1:], ")")
}

// TestLimitsReleased: whatever ends a request, its pending slot is free
// again as soon as the answer is out.
func TestLimitsReleased(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
	}{
		{"approved", nil, 200},
		{"denied", auth.ErrDenied, 401},
		{"timeout", fmt.Errorf("component: %w", auth.ErrTimeout), 401},
		{"conflict", auth.ErrConflict, 409},
		{"unreachable", auth.ErrUnreachable, 523},
		{"not connected while sending", auth.ErrNotConnected, 523},
		{"shutting down", auth.ErrShuttingDown, 523},
		{"server error", auth.ErrServer, 520},
		{"unexpected error", errors.New("boom"), 520},
		{"canceled", auth.ErrCanceled, statusCanceled},
		{"panic", nil, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeConfirmer{confirm: func(context.Context, auth.Request) (auth.Decision, error) {
				if tc.code == -1 {
					panic("confirmer panics")
				}
				return auth.Decision{Path: auth.PathIQ}, tc.err
			}}
			lim := NewLimiter(Limits{PendingPerJID: 1, PendingTotal: 1}, newFakeClock().Now)
			h, _ := newHandler(t, f, Options{Limiter: lim})
			for i := range 3 { // the same JID, one at a time: never 429
				code := func() (code int) {
					defer func() {
						if recover() != nil {
							code = -1
						}
					}()
					return do(t, h, "GET", "/auth?"+okParams, "", nil).Code
				}()
				if code != tc.code {
					t.Fatalf("call %d: code %d, want %d", i, code, tc.code)
				}
				if n := lim.Pending(); n != 0 {
					t.Fatalf("call %d: Pending() = %d", i, n)
				}
			}
			if len(lim.jids.m) != 0 {
				t.Errorf("%d JIDs kept", len(lim.jids.m))
			}
		})
	}
}

// TestLimitsReleasedOnHangUp: a caller that hangs up frees its slot.
func TestLimitsReleasedOnHangUp(t *testing.T) {
	g := newGatedConfirmer()
	lim := NewLimiter(Limits{PendingPerJID: 1, PendingTotal: 1}, newFakeClock().Now)
	ts := httptest.NewServer(New(Options{Confirmer: g, Limiter: lim}))
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/auth?"+holdParams, nil)
	done := make(chan error, 1)
	go func() {
		resp, err := ts.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the request to be pending", func() bool { return lim.Pending() == 1 })
	cancel()
	<-done
	waitFor(t, "the slot to be released", func() bool { return lim.Pending() == 0 })
	close(g.gate)
	code, _ := get(t, ts.Client(), ts.URL+"/auth?"+okParams)
	if code != 200 {
		t.Errorf("next call: %d", code)
	}
}

// TestCheckOrder: when several checks would refuse a request, the first
// in the documented order answers.
func TestCheckOrder(t *testing.T) {
	notConnected := fmt.Errorf("test: %w", auth.ErrNotConnected)
	tests := []struct {
		name   string
		lim    Limits
		hold   []call
		before []call
		ready  error
		check  call
		code   int
		body   string // prefix
	}{
		{
			name:   "parameters before the caller's rate",
			lim:    Limits{RequestsPerCallerPerSecond: 1},
			before: []call{{query: okParams}, {query: okParams}},
			check:  call{query: "jid=example.org&domain=x&method=GET"},
			code:   400, body: "invalid: jid",
		},
		{
			name:   "the caller's rate before readiness",
			lim:    Limits{RequestsPerCallerPerSecond: 1},
			before: []call{{query: okParams}, {query: okParams}},
			ready:  notConnected,
			check:  call{query: okParams},
			code:   429, body: "rate_limited: caller",
		},
		{
			name:  "readiness before the pending limits",
			lim:   Limits{PendingPerJID: 1, PendingTotal: 1},
			hold:  []call{{query: holdParams}},
			ready: notConnected,
			check: call{query: okParams},
			code:  523, body: "unreachable",
		},
		{
			name:  "pending in all before pending per JID",
			lim:   Limits{PendingPerJID: 1, PendingTotal: 1},
			hold:  []call{{query: holdParams}},
			check: call{query: okParams},
			code:  429, body: "rate_limited: the gateway already has 1 pending request (limit_pending_total)",
		},
		{
			name:  "pending per JID before the JID's rate",
			lim:   Limits{PendingPerJID: 1, RequestsPerJIDPerMinute: 1},
			hold:  []call{{query: holdParams}},
			check: call{query: okParams},
			code:  429, body: "rate_limited: alice@example.org already has 1 pending request",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGatedConfirmer()
			lim := NewLimiter(tc.lim, newFakeClock().Now)
			h := New(Options{Confirmer: g, IDs: constReader(0), Limiter: lim})
			var wg sync.WaitGroup
			for _, c := range tc.hold {
				wg.Go(func() { serveCall(h, c) })
			}
			waitFor(t, "the held calls", func() bool { return int(g.asked.Load()) == len(tc.hold) })
			for _, c := range tc.before {
				if w := serveCall(h, c); w.Code != 200 {
					t.Fatalf("call %v: %d %s", c, w.Code, w.Body)
				}
			}
			g.setReady(tc.ready)
			w := serveCall(h, tc.check)
			if w.Code != tc.code || !strings.HasPrefix(w.Body.String(), tc.body) {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), tc.code, tc.body)
			}
			close(g.gate)
			wg.Wait()
		})
	}
	t.Run("no token spent on 400 or 523", func(t *testing.T) {
		g := newGatedConfirmer()
		lim := NewLimiter(Limits{PendingPerJID: 1, RequestsPerJIDPerMinute: 1}, newFakeClock().Now)
		h := New(Options{Confirmer: g, Limiter: lim})
		if w := serveCall(h, call{query: okParams + "&timeout=x"}); w.Code != 400 {
			t.Fatalf("got %d", w.Code)
		}
		g.setReady(auth.ErrNotConnected)
		if w := serveCall(h, call{query: okParams}); w.Code != 523 {
			t.Fatalf("got %d", w.Code)
		}
		g.setReady(nil)
		if w := serveCall(h, call{query: okParams}); w.Code != 200 {
			t.Fatalf("the token was spent: %d %s", w.Code, w.Body)
		}
		if w := serveCall(h, call{query: okParams}); w.Code != 429 {
			t.Fatalf("the bucket of one did not limit: %d", w.Code)
		}
	})
}

// TestLimitsConcurrent: under many concurrent callers (run with -race)
// no limit is ever exceeded and every slot is released at the end.
func TestLimitsConcurrent(t *testing.T) {
	const perJID, total, workers, calls = 2, 5, 16, 300
	jids := []string{"a@example.org", "b@example.org", "c@example.org", "d@example.org"}
	clk := newFakeClock()
	lim := NewLimiter(Limits{PendingPerJID: perJID, PendingTotal: total, RequestsPerJIDPerMinute: 6000, RequestsPerCallerPerSecond: 1000}, clk.Now)

	var mu sync.Mutex
	inFlight := map[string]int{}
	all, maxAll := 0, 0
	maxJID := 0
	f := &fakeConfirmer{confirm: func(_ context.Context, req auth.Request) (auth.Decision, error) {
		bare := req.JID.Bare()
		mu.Lock()
		inFlight[bare]++
		all++
		maxJID = max(maxJID, inFlight[bare])
		maxAll = max(maxAll, all)
		mu.Unlock()
		for range 10 {
			runtime.Gosched()
		}
		mu.Lock()
		inFlight[bare]--
		all--
		mu.Unlock()
		return auth.Decision{Path: auth.PathIQ}, nil
	}}
	h, _ := newHandler(t, f, Options{Limiter: lim})
	var codes sync.Map
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				clk.Advance(time.Millisecond)
				c := call{
					query:  "jid=" + jids[(w+i)%len(jids)] + "/r&domain=x&method=GET",
					remote: fmt.Sprintf("192.0.2.%d:1", w),
				}
				code := serveCall(h, c).Code
				n, _ := codes.LoadOrStore(code, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		})
	}
	wg.Wait()
	codes.Range(func(k, v any) bool {
		if c := k.(int); c != 200 && c != 429 {
			t.Errorf("%d answers %d", v.(*atomic.Int64).Load(), c)
		}
		return true
	})
	if maxJID > perJID || maxAll > total {
		t.Errorf("at most %d pending per JID (limit %d), %d in all (limit %d)", maxJID, perJID, maxAll, total)
	}
	if n := lim.Pending(); n != 0 {
		t.Errorf("Pending() = %d at the end", n)
	}
}

// BenchmarkLimiter: the cost of the limits on the hot path (a caller's
// token, a pending slot, its release): for distinct callers and JIDs (the
// worst case: the tables grow and are swept), and for one caller asking
// one JID (the steady case), sequentially and from parallel goroutines.
func BenchmarkLimiter(b *testing.B) {
	for _, distinct := range []bool{true, false} {
		for _, parallel := range []bool{false, true} {
			b.Run(fmt.Sprintf("distinct=%v/parallel=%v", distinct, parallel), func(b *testing.B) {
				lims := Limits{PendingPerJID: 3, RequestsPerJIDPerMinute: 10, RequestsPerCallerPerSecond: 20, PendingTotal: 20000}
				if !distinct { // high enough never to refuse
					lims = Limits{PendingPerJID: 1 << 20, RequestsPerJIDPerMinute: 1 << 40, RequestsPerCallerPerSecond: 1 << 30, PendingTotal: 1 << 20}
				}
				lim := NewLimiter(lims, nil)
				var n atomic.Int64
				one := func() {
					key := "192.0.2.1"
					if distinct {
						key = strconv.FormatInt(n.Add(1), 10)
					}
					if err := lim.AllowCaller(key); err != nil {
						b.Fatal(err)
					}
					release, err := lim.Acquire(key+"@example.org", time.Minute)
					if err != nil {
						b.Fatal(err)
					}
					release()
				}
				b.ReportAllocs()
				if !parallel {
					for b.Loop() {
						one()
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						one()
					}
				})
			})
		}
	}
}
