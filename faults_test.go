package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/prosodytest"
	"github.com/xmpp-http-auth/http-auth/internal/xmpptest"
)

// Fault tests (issue 3, item 5), end to end: a real Prosody is killed,
// frozen, or given the wrong secret, and HTTP callers hang up, while the
// whole program runs through run. Every wait polls with a deadline.

// The liveness settings startGateway writes (xmpp_ping_interval_sec=1); the
// ping timeout is min(interval, 10 s), as the README says.
const (
	testPingInterval = 1 * time.Second
	testPingTimeout  = testPingInterval
)

// caller is an HTTP client of the gateway with its own transport, so that
// a test can close its idle connections (and their goroutines) when it
// counts goroutines, and send extra headers (an API key).
type caller struct {
	base   string
	hc     *http.Client
	header http.Header
}

func newCaller(g *gateway, header http.Header) *caller {
	tr := &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}
	return &caller{base: g.base, hc: &http.Client{Transport: tr}, header: header}
}

// do sends GET /auth?v; the error is the transport's (a cancelled ctx).
func (c *caller) do(ctx context.Context, v url.Values) (result, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/auth?"+v.Encode(), nil)
	if err != nil {
		return result{}, err
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	return result{code: resp.StatusCode, body: string(b), txn: resp.Header.Get("X-Transaction-Id"), elapsed: time.Since(start)}, nil
}

func (c *caller) auth(t *testing.T, v url.Values) result {
	t.Helper()
	r, err := c.do(context.Background(), v)
	if err != nil {
		t.Fatalf("GET /auth: %v", err)
	}
	return r
}

// close drops the idle keep-alive connections: their client goroutines go
// at once, the server's when it reads the EOF.
func (c *caller) close() { c.hc.CloseIdleConnections() }

// waitConnected is gateway.waitConnected through this caller (which may
// carry an API key).
func (c *caller) waitConnected(t *testing.T, g *gateway) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		r := c.auth(t, url.Values{"jid": {"nobody@localhost"}, "domain": {"probe"}, "method": {"GET"}, "timeout": {"10"}})
		if r.code == 523 && !strings.Contains(r.body, "not connected") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never connected: last %d %s\n%s", r.code, r.body, g.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logLines returns the gateway's log lines that contain every one of subs.
func (g *gateway) logLines(subs ...string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(g.logs.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
next:
	for sc.Scan() {
		for _, s := range subs {
			if !strings.Contains(sc.Text(), s) {
				continue next
			}
		}
		out = append(out, sc.Text())
	}
	return out
}

// waitLog polls until at least n log lines contain every one of subs and
// returns them.
func (g *gateway) waitLog(t *testing.T, timeout time.Duration, n int, subs ...string) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if lines := g.logLines(subs...); len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, fewer than %d log lines contain %q\n%s", timeout, n, subs, g.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var logTime = regexp.MustCompile(`^time=(\S+)`)

// lineTime reads the time= of a text log line.
func lineTime(t *testing.T, line string) time.Time {
	t.Helper()
	m := logTime.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no time in log line %q", line)
	}
	ts, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	return ts
}

// keeper is the handler of a person who keeps the requests she receives
// (on ch, which must have room), to answer them later or never.
func keeper(ch chan<- xmpptest.Stanza) func(*xmpptest.Client, xmpptest.Stanza) {
	return func(_ *xmpptest.Client, s xmpptest.Stanza) { ch <- s }
}

// received waits for the next request kept by a keeper.
func received(t *testing.T, ch <-chan xmpptest.Stanza) xmpptest.Stanza {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the person")
		return xmpptest.Stanza{}
	}
}

// goroutinesBackTo polls until the process has at most limit goroutines
// and returns the count seen; on the deadline it fails with a dump.
func goroutinesBackTo(t *testing.T, limit int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := runtime.NumGoroutine()
		if n <= limit {
			return n
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after %v, want at most %d:\n%s", n, timeout, limit, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// (a) Prosody dies with SIGKILL (no stream close, no goodbye) while four
// requests wait. None is answered 523: each keeps its deadline, and the
// answers the person sends once Prosody and her client are back approve.
func TestFaultProsodyKilledWhilePending(t *testing.T) {
	p := prosodytest.Start(t, prosodytest.Options{Users: users})
	g := startGateway(t, p)
	g.waitConnected(t)

	// alice's phone receives the requests and keeps them: she answers only
	// after the crash, from a new session on the same resource.
	got := make(chan xmpptest.Stanza, 16)
	person(t, p, "alice", "phone", keeper(got))

	type pending struct {
		name string
		v    url.Values
		done chan result
	}
	const lateTimeout = 8 * time.Second
	reqs := []*pending{
		{name: "iq", v: ask("alice@localhost/phone", "transaction_id", "KILL-IQ", "timeout", "90")},
		{name: "message", v: ask("alice@localhost", "transaction_id", "KILL-MSG", "timeout", "90")},
		{name: "code", v: ask("alice@localhost", "transaction_id", "KILL-CODE", "timeout", "90")},
		{name: "unanswered", v: ask("alice@localhost/phone", "transaction_id", "KILL-LATE", "timeout", fmt.Sprint(lateTimeout.Seconds()))},
	}
	asked := map[string]xmpptest.Stanza{}
	for _, r := range reqs {
		r.done = make(chan result, 1)
		go func() { r.done <- g.auth(t, r.v) }()
		s := received(t, got)
		asked[s.ConfirmID()] = s
	}
	for _, r := range reqs {
		if _, ok := asked[r.v.Get("transaction_id")]; !ok {
			t.Fatalf("alice never got %s; got %v", r.v.Get("transaction_id"), asked)
		}
	}

	lost := len(g.logLines("lost the XMPP stream"))
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, 15*time.Second, lost+1, "lost the XMPP stream")
	if r := g.auth(t, ask("bob@localhost/x", "timeout", "5")); r.code != 523 || !strings.Contains(r.body, "not connected") {
		t.Fatalf("a new request while Prosody is dead: %d %q, want 523 not connected", r.code, r.body)
	}
	for _, r := range reqs {
		select {
		case res := <-r.done:
			t.Fatalf("%s was answered when Prosody died: %d %q", r.name, res.code, res.body)
		default:
		}
	}

	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	g.waitConnected(t)

	// alice's client reconnects (same resource, so the same full JID) and
	// answers the requests it remembers, each in its own shape.
	again := make(chan xmpptest.Stanza, 16)
	c := person(t, p, "alice", "phone", keeper(again))
	comp := p.ComponentDomain
	if err := c.ApproveIQ(asked["KILL-IQ"]); err != nil {
		t.Fatal(err)
	}
	if err := c.ApproveMessage(asked["KILL-MSG"]); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMessage(comp, " kill-code "); err != nil {
		t.Fatal(err)
	}

	for _, r := range reqs[:3] {
		res := <-r.done
		if res.code != 200 {
			t.Errorf("%s answered after the restart: got %d %q, want 200 approved", r.name, res.code, res.body)
		}
	}
	late := <-reqs[3].done
	if late.code != 401 || !strings.HasPrefix(late.body, "timeout:") {
		t.Errorf("unanswered request: got %d %q, want 401 timeout", late.code, late.body)
	}
	if late.elapsed < lateTimeout || late.elapsed > lateTimeout+10*time.Second {
		t.Errorf("unanswered request ended after %v, want its own deadline of %v", late.elapsed, lateTimeout)
	}
	t.Logf("unanswered request: timeout after %v (deadline %v)", late.elapsed.Round(time.Millisecond), lateTimeout)
	// Nothing is resent after the reconnect.
	select {
	case s := <-again:
		t.Errorf("a request was sent again after the reconnect: %s", s.Raw)
	default:
	}
}

// (b) Prosody frozen with SIGSTOP keeps its sockets open and says nothing:
// the gateway's pings notice the silent stream within a bound set by the
// configuration, /auth answers 523 at once meanwhile, and after SIGCONT
// the gateway reconnects and approves again, the request asked before the
// freeze included.
func TestFaultProsodyFrozen(t *testing.T) {
	p := prosodytest.Start(t, prosodytest.Options{Users: users})
	g := startGateway(t, p)
	g.waitConnected(t)
	person(t, p, "alice", "before", approve)
	want(t, g.auth(t, ask("alice@localhost/before")), 200, "approved")
	// A request asked before the freeze, answered after the reconnect.
	got := make(chan xmpptest.Stanza, 4)
	phone := person(t, p, "alice", "phone", keeper(got))
	pending := make(chan result, 1)
	go func() {
		pending <- g.auth(t, ask("alice@localhost/phone", "transaction_id", "FROZEN", "timeout", "90"))
	}()
	asked := received(t, got)

	lost := len(g.logLines("lost the XMPP stream"))
	frozen := time.Now()
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	// A ping is sent at most one interval after the freeze and is given up
	// one timeout later; 5 s more for a loaded machine.
	bound := testPingInterval + testPingTimeout + 5*time.Second
	lines := g.waitLog(t, bound+30*time.Second, lost+1, "lost the XMPP stream")
	noticed := lineTime(t, lines[lost]).Sub(frozen)
	t.Logf("frozen server noticed after %v (bound %v): %s", noticed.Round(time.Millisecond), bound, lines[lost])
	if noticed > bound {
		t.Errorf("the frozen server was noticed after %v, want under %v", noticed, bound)
	}
	if !strings.Contains(lines[lost], "ping") {
		t.Errorf("the stream was not given up for want of a pong: %s", lines[lost])
	}
	r := g.auth(t, ask("alice@localhost/before", "timeout", "30"))
	if r.code != 523 || !strings.Contains(r.body, "not connected") || r.elapsed > 5*time.Second {
		t.Fatalf("/auth while frozen: %d %q after %v, want 523 not connected at once", r.code, r.body, r.elapsed)
	}

	thawed := time.Now()
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	g.waitConnected(t)
	t.Logf("reconnected %v after SIGCONT", time.Since(thawed).Round(time.Millisecond))
	select {
	case r := <-pending:
		t.Fatalf("the request asked before the freeze ended before its answer: %d %q", r.code, r.body)
	default:
	}
	if err := phone.ApproveIQ(asked); err != nil {
		t.Fatal(err)
	}
	want(t, <-pending, 200, "approved")
	person(t, p, "alice", "after", approve)
	want(t, g.auth(t, ask("alice@localhost/after")), 200, "approved")
}

// (c) A wrong component secret cannot be fixed at runtime: the gateway says
// clearly which component and server refused it, keeps trying with a
// growing backoff (not a spin), answers 523, never logs the secret, and
// still stops cleanly.
func TestFaultWrongSecret(t *testing.T) {
	p := prosodytest.Start(t, prosodytest.Options{Users: users})
	const wrong = "wrong-secret-9f1c2e"
	g := startGatewayEnv(t, p, map[string]string{"HTTPAUTH_XMPP_SECRET": wrong})

	refused := "component: handshake for " + p.ComponentDomain + " refused by " + p.ComponentAddr
	const attempts = 4
	lines := g.waitLog(t, 30*time.Second, attempts, refused)
	for _, l := range lines {
		if !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "not-authorized") {
			t.Errorf("refusal line lacks the level or the server's reason: %s", l)
		}
	}
	t.Logf("first refusal: %s", lines[0])

	// Backoff: 500 ms doubling, each wait jittered into [d/2, d], so the
	// gap before attempt i+1 is at least 250 ms << i (10 ms for the log's
	// millisecond times).
	var gaps []time.Duration
	for i := 1; i < len(lines); i++ {
		gap := lineTime(t, lines[i]).Sub(lineTime(t, lines[i-1]))
		gaps = append(gaps, gap)
		if least := (250*time.Millisecond)<<(i-1) - 10*time.Millisecond; gap < least {
			t.Errorf("attempt %d came %v after the previous one, want at least %v (backoff)", i+1, gap, least)
		}
	}
	t.Logf("gaps between attempts: %v", gaps)

	r := g.auth(t, ask("alice@localhost/x"))
	if r.code != 523 || !strings.Contains(r.body, "not connected") {
		t.Fatalf("/auth with a refused handshake: %d %q, want 523 not connected", r.code, r.body)
	}
	if strings.Contains(g.logs.String(), wrong) {
		t.Errorf("the secret reached the log")
	}
	g.stop(t) // run returns nil even while retrying
}

// (d) An HTTP caller that hangs up while the person has not answered drops
// the pending transaction: the same transaction id is accepted again (not
// 409), a late answer to the abandoned stanza changes nothing, and after
// many hang-ups the goroutine count is back where it was.
func TestFaultCallerHangsUp(t *testing.T) {
	p := prosodytest.Start(t, prosodytest.Options{Users: users})
	g := startGateway(t, p)
	g.waitConnected(t)
	got := make(chan xmpptest.Stanza, 64)
	alice := person(t, p, "alice", "phone", keeper(got))
	hc := newCaller(g, nil)

	// hangUp asks jid with code txn and hangs up once alice has the
	// request: by cancelling an http.Client request, or by closing a raw
	// TCP connection. It returns the stanza alice got, once the gateway has
	// logged the caller's departure.
	hangUp := func(t *testing.T, jid, txn string, raw bool) xmpptest.Stanza {
		t.Helper()
		before := len(g.logLines("caller went away", "txn="+txn))
		v := ask(jid, "transaction_id", txn, "timeout", "60")
		if raw {
			conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "GET /auth?%s HTTP/1.1\r\nHost: gateway\r\n\r\n", v.Encode())
			s := received(t, got)
			conn.Close()
			g.waitLog(t, 10*time.Second, before+1, "caller went away", "txn="+txn)
			return s
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { _, err := hc.do(ctx, v); errc <- err }()
		s := received(t, got)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("the cancelled request returned %v", err)
		}
		g.waitLog(t, 10*time.Second, before+1, "caller went away", "txn="+txn)
		return s
	}

	for _, tc := range []struct {
		name, jid string
		raw       bool
	}{
		{"iq, client cancels", "alice@localhost/phone", false},
		{"message, client cancels", "alice@localhost", false},
		{"iq, connection closed", "alice@localhost/phone", true},
		{"message, connection closed", "alice@localhost", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			txn := "HANGUP-" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
			first := hangUp(t, tc.jid, txn, tc.raw)
			if first.Name == "iq" {
				// The abandoned iq's stanza id is gone: its answer is
				// dropped (a message answer would name the code, which
				// the next request reuses, so it is not sent here).
				if err := alice.ApproveIQ(first); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan result, 1)
			go func() { done <- hc.auth(t, ask(tc.jid, "transaction_id", txn, "timeout", "60")) }()
			second := received(t, got)
			if second.ConfirmID() != txn {
				t.Fatalf("alice was asked %q, want %q", second.ConfirmID(), txn)
			}
			if first.Name == "iq" && second.ID == first.ID {
				t.Fatalf("the stanza id was reused: %s", second.ID)
			}
			select {
			case r := <-done:
				t.Fatalf("the second request ended before any answer: %d %q", r.code, r.body)
			default:
			}
			approve(alice, second)
			want(t, <-done, 200, "approved")
		})
	}

	// No leak: after a warm-up, 30 more hang-ups leave the goroutine count
	// where it was once the idle connections are closed.
	hc.close()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	base := settle(t).goroutines
	const n = 30
	for i := range n {
		jid := "alice@localhost/phone"
		if i%2 == 1 {
			jid = "alice@localhost"
		}
		hangUp(t, jid, fmt.Sprintf("LEAK-%02d", i), i%3 == 0)
	}
	hc.close()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	after := goroutinesBackTo(t, base+2, 20*time.Second)
	t.Logf("goroutines: %d before %d hang-ups, %d after", base, n, after)
}
