package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/prosodytest"
	"github.com/xmpp-http-auth/http-auth/internal/xmpptest"
)

// The leak test (issue 3, item 6): 10,000 requests mixing approvals (iq,
// message, plain-text code), denials (iq, message), timeouts, callers
// hanging up and forged answers go through the whole program and a real
// Prosody; afterwards the process's goroutines and heap are back at the
// baseline measured after a warm-up. The gateway runs in this process
// (run), so runtime counts it.

const (
	leakRequests = 10000
	leakWarmUp   = 1000
	leakInFlight = 100
	// Margins over the baseline: a leak of one goroutine per thousand
	// requests, or of 100 bytes per request, fails.
	leakGoroutineMargin = 5
	leakHeapMargin      = 1 << 20
)

// leakKind is one shape of request in the mix; i%10 picks it.
type leakKind int

const (
	kIQApprove leakKind = iota
	kMsgApprove
	kCodeApprove
	kIQDeny
	kMsgDeny
	kTimeout
	kCancel
	kForged
	kIQApprove2
	kMsgApprove2
	leakKinds
)

var leakKindNames = [leakKinds]string{"iq approve", "message approve", "code approve", "iq deny", "message deny",
	"timeout", "cancel", "forged", "iq approve", "message approve"}

var leakUsers = map[string]string{"alice": pw, "bob": pw, "carol": pw, "dave": pw, "erin": pw, "frank": pw}

// leakWorld is the people answering: alice (iq: approves on /yes, denies
// on /no, sleeps on /asleep, is the forgers' target on /victim), carol
// (approves messages), erin (approves with the plain-text code), dave
// (denies messages), frank (never answers) and bob, the forger.
type leakWorld struct {
	t       *testing.T
	p       *prosodytest.Server
	clients []*xmpptest.Client
	bob     *xmpptest.Client
	// asked signals, per transaction id, that a sleeper got the request
	// (so that the caller can hang up while it is pending).
	asked sync.Map // txn -> chan struct{}
	// victims holds the forged-against requests until bob's forgeries
	// have passed through Prosody.
	victims sync.Map // txn -> xmpptest.Stanza
	forged  atomic.Int64
}

func (w *leakWorld) login(user, resource string, h xmpptest.Handler) *xmpptest.Client {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := xmpptest.DialConfig(ctx, xmpptest.Config{Addr: w.p.C2SAddr, JID: user + "@" + w.p.Domain, Password: pw, Resource: resource, Handler: h})
	if err != nil {
		w.t.Fatalf("login %s/%s: %v", user, resource, err)
	}
	// Closed by close, and no longer referenced after it: a closed client
	// still holds its buffers, which would count as heap growth.
	w.clients = append(w.clients, c)
	return c
}

func isRequest(s xmpptest.Stanza) bool {
	return s.HasConfirm() && s.Type != "error" && s.Type != "result"
}

func (w *leakWorld) connect() {
	comp := w.p.ComponentDomain
	w.clients = nil
	on := func(f func(*xmpptest.Client, xmpptest.Stanza)) xmpptest.Handler {
		return func(c *xmpptest.Client, s xmpptest.Stanza) {
			if isRequest(s) {
				f(c, s)
			}
		}
	}
	sleeper := on(func(_ *xmpptest.Client, s xmpptest.Stanza) {
		if ch, ok := w.asked.LoadAndDelete(s.ConfirmID()); ok {
			close(ch.(chan struct{}))
		}
	})
	// bob ignores whatever comes back to him.
	w.bob = w.login("bob", "mallory", func(*xmpptest.Client, xmpptest.Stanza) {})
	w.login("alice", "yes", on(approve))
	w.login("alice", "no", on(deny))
	w.login("alice", "asleep", sleeper)
	w.login("frank", "asleep", sleeper)
	w.login("carol", "phone", on(approve))
	w.login("dave", "phone", on(deny))
	w.login("erin", "phone", on(func(c *xmpptest.Client, s xmpptest.Stanza) {
		_ = c.SendMessage(comp, strings.ToLower(s.ConfirmID()))
	}))
	// The victim keeps the request and has bob forge every answer he can:
	// a <confirm/> message of each type, the plain-text code, and an iq
	// result carrying the very stanza id of the request (as if it had
	// leaked). Then bob tells the victim over Prosody; his message follows
	// his forgeries through Prosody's one thread, so by the time it
	// arrives they have been routed to the gateway, and the victim denies.
	bob := w.bob
	w.login("alice", "victim", func(c *xmpptest.Client, s xmpptest.Stanza) {
		switch {
		case isRequest(s):
			txn := s.ConfirmID()
			w.victims.Store(txn, s)
			_ = bob.SendConfirmMessage(comp, txn, "POST", "https://shop.example/login", "normal")
			_ = bob.SendConfirmMessage(comp, txn, "", "", "chat")
			_ = bob.SendMessage(comp, txn)
			_ = bob.ApproveIQ(s)
			w.forged.Add(4)
			_ = bob.SendMessage(c.JID(), "go:"+txn)
		case s.Name == "message" && strings.HasPrefix(s.Body(), "go:"):
			if req, ok := w.victims.LoadAndDelete(strings.TrimPrefix(s.Body(), "go:")); ok {
				deny(c, req.(xmpptest.Stanza))
			}
		}
	})
}

func (w *leakWorld) close() {
	for _, c := range w.clients {
		_ = c.Close()
	}
	w.clients, w.bob = nil, nil
}

// leakTally counts outcomes per kind.
type leakTally struct {
	mu   sync.Mutex
	seen [leakKinds]map[string]int
	bad  []string
}

func (t *leakTally) add(k leakKind, outcome string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen[k] == nil {
		t.seen[k] = map[string]int{}
	}
	t.seen[k][outcome]++
	if !ok && len(t.bad) < 10 {
		t.bad = append(t.bad, leakKindNames[k]+": "+outcome)
	}
}

// load sends requests first..first+n-1 of the mix, leakInFlight at a time.
func (w *leakWorld) load(hc *caller, first, n int, tally *leakTally) {
	idx := make(chan int)
	var wg sync.WaitGroup
	for range leakInFlight {
		wg.Go(func() {
			for i := range idx {
				w.one(hc, i, tally)
			}
		})
	}
	for i := first; i < first+n; i++ {
		idx <- i
	}
	close(idx)
	wg.Wait()
}

func (w *leakWorld) one(hc *caller, i int, tally *leakTally) {
	k := leakKind(i % int(leakKinds))
	txn := fmt.Sprintf("L%06d", i)
	var jid, timeout, want string
	wantCode := 200
	switch k {
	case kIQApprove, kIQApprove2:
		jid, want = "alice@localhost/yes", "approved"
	case kMsgApprove, kMsgApprove2:
		jid, want = "carol@localhost", "approved"
	case kCodeApprove:
		jid, want = "erin@localhost", "approved"
	case kIQDeny:
		jid, wantCode, want = "alice@localhost/no", 401, "denied"
	case kMsgDeny:
		jid, wantCode, want = "dave@localhost", 401, "denied"
	case kTimeout, kCancel:
		jid = "alice@localhost/asleep"
		if (i/int(leakKinds))%2 == 1 {
			jid = "frank@localhost"
		}
		timeout, wantCode, want = "1", 401, "timeout"
	case kForged:
		jid, wantCode, want = "alice@localhost/victim", 401, "denied"
	}
	if timeout == "" {
		timeout = "30"
	}
	v := ask(jid, "transaction_id", txn, "timeout", timeout)

	if k == kCancel {
		v.Set("timeout", "30")
		asked := make(chan struct{})
		w.asked.Store(txn, asked)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { _, err := hc.do(ctx, v); errc <- err }()
		select {
		case <-asked:
		case <-time.After(20 * time.Second):
			w.asked.Delete(txn)
		}
		cancel()
		err := <-errc
		if errors.Is(err, context.Canceled) {
			tally.add(k, "canceled", true)
		} else {
			tally.add(k, fmt.Sprintf("not canceled: %v", err), false)
		}
		return
	}
	r, err := hc.do(context.Background(), v)
	if err != nil {
		tally.add(k, err.Error(), false)
		return
	}
	status, _, _ := strings.Cut(r.body, ":")
	tally.add(k, fmt.Sprintf("%d %s", r.code, status), r.code == wantCode && status == want)
}

type memFigures struct {
	goroutines int
	heapAlloc  uint64
	heapInuse  uint64
}

func measure() memFigures {
	runtime.GC()
	runtime.GC() // the second one empties sync.Pool's victim cache
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{goroutines: runtime.NumGoroutine(), heapAlloc: ms.HeapAlloc, heapInuse: ms.HeapInuse}
}

// settle polls until the goroutine count has stopped moving (connections
// closed by both sides) and returns the figures then.
func settle(t *testing.T) memFigures {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last, same := -1, 0
	for {
		n := runtime.NumGoroutine()
		if n == last {
			same++
		} else {
			last, same = n, 0
		}
		if same >= 10 || time.Now().After(deadline) {
			return measure()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLeakTenThousandRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("the leak test sends 10,000 requests")
	}
	p := prosodytest.Start(t, prosodytest.Options{Users: leakUsers, GenerationalGC: true})
	// Few log lines (errors only): the log is kept in memory by the test
	// and would count as heap growth. Pings every 10 s (a pong within
	// 10 s): under this load on a busy machine a pong can take more than
	// the 1 s of the generated configuration, and liveness is not what is
	// measured here.
	g := startGatewayEnv(t, p, map[string]string{"HTTPAUTH_LOG_LEVEL": "error", "HTTPAUTH_XMPP_PING_INTERVAL_SEC": "10"})
	w := &leakWorld{t: t, p: p}
	t.Cleanup(w.close)
	hc := newCaller(g, nil)
	hc.waitConnected(t, g)

	// Warm-up: every path once, pools and maps at their working size.
	w.connect()
	var warm leakTally
	w.load(hc, 0, leakWarmUp, &warm)
	w.close()
	hc.close()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	base := settle(t)

	w.connect()
	w.forged.Store(0)
	var tally leakTally
	start := time.Now()
	w.load(hc, leakWarmUp, leakRequests, &tally)
	elapsed := time.Since(start)
	w.close()
	hc.close()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()

	for k := range leakKinds {
		t.Logf("%-16s %v", leakKindNames[k], tally.seen[k])
	}
	t.Logf("%d requests in %v (%.0f/s, %d in flight); %d forged answers sent, %d forged-against requests approved",
		leakRequests, elapsed.Round(time.Millisecond), float64(leakRequests)/elapsed.Seconds(), leakInFlight,
		w.forged.Load(), tally.seen[kForged]["200 approved"])
	if len(tally.bad) > 0 {
		t.Errorf("unexpected outcomes (first %d): %q", len(tally.bad), tally.bad)
	}
	if warm.bad != nil {
		t.Errorf("unexpected outcomes in the warm-up: %q", warm.bad)
	}

	// Back to the baseline, polling (connections close asynchronously).
	deadline := time.Now().Add(30 * time.Second)
	var after memFigures
	for {
		after = measure()
		if after.goroutines <= base.goroutines+leakGoroutineMargin &&
			after.heapAlloc <= base.heapAlloc+leakHeapMargin {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("not back to the baseline after 30 s: goroutines %d (baseline %d, margin %d), heap %d B (baseline %d B, margin %d B)\n%s",
				after.goroutines, base.goroutines, leakGoroutineMargin, after.heapAlloc, base.heapAlloc, leakHeapMargin, buf)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("goroutines: baseline %d, after %d; HeapAlloc: baseline %d B, after %d B (%+d B); HeapInuse: baseline %d B, after %d B",
		base.goroutines, after.goroutines, base.heapAlloc, after.heapAlloc, int64(after.heapAlloc)-int64(base.heapAlloc),
		base.heapInuse, after.heapInuse)
}
