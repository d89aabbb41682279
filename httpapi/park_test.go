package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// fakePending is a request of fakeAsker: it ends when the test says so.
type fakePending struct {
	mu       sync.Mutex
	done     chan struct{}
	ended    bool
	dec      auth.Decision
	err      error
	notify   func()
	canceled bool
}

func (p *fakePending) Done() <-chan struct{} { return p.done }

func (p *fakePending) Notify(f func()) {
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		f()
		return
	}
	p.notify = f
	p.mu.Unlock()
}

func (p *fakePending) end(dec auth.Decision, err error) bool {
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		return false
	}
	p.ended, p.dec, p.err = true, dec, err
	close(p.done)
	f := p.notify
	p.mu.Unlock()
	if f != nil {
		f()
	}
	return true
}

func (p *fakePending) Cancel() {
	if p.end(auth.Decision{Path: auth.PathIQ}, fmt.Errorf("fake: %w", auth.ErrCanceled)) {
		p.mu.Lock()
		p.canceled = true
		p.mu.Unlock()
	}
}

func (p *fakePending) Result() (auth.Decision, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dec, p.err
}

func (p *fakePending) wasCanceled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.canceled
}

// fakeAsker is a Confirmer and an Asker whose requests wait until the test
// ends them (answer); answerAfter > 0 approves each by itself after that.
type fakeAsker struct {
	answerAfter time.Duration
	asked       chan *fakePending
}

func newFakeAsker() *fakeAsker { return &fakeAsker{asked: make(chan *fakePending, 100)} }

func (f *fakeAsker) Ask(req auth.Request) (auth.Pending, error) {
	p := &fakePending{done: make(chan struct{})}
	if f.answerAfter > 0 {
		time.AfterFunc(f.answerAfter, func() { p.end(auth.Decision{Path: auth.PathIQ}, nil) })
	}
	f.asked <- p
	return p, nil
}

func (f *fakeAsker) Confirm(context.Context, auth.Request) (auth.Decision, error) {
	panic("an Asker is asked, not confirmed")
}

func (f *fakeAsker) Ready() error { return nil }

func (f *fakeAsker) next(t *testing.T) *fakePending {
	t.Helper()
	select {
	case p := <-f.asked:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("nothing asked")
		return nil
	}
}

// startAPI serves the API with f on a loopback listener.
func startAPI(t *testing.T, f Confirmer, opts Options) (*httptest.Server, *syncBuffer, *Handler) {
	t.Helper()
	logs := &syncBuffer{}
	opts.Confirmer = f
	opts.Logger = newTextLogger(logs)
	opts.IDs = constReader(0)
	h := New(opts)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts, logs, h
}

// rawGet sends one GET on a new connection and returns the connection and
// a reader of it.
func rawGet(t *testing.T, addr, target, extra string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", target, extra)
	return c, bufio.NewReader(c)
}

const parkQuery = "/auth?jid=alice@example.org/phone&domain=example.com&method=GET&transaction_id=PARK1"

func TestParkedRequestGetsItsAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		accept string
		dec    auth.Decision
		err    error
		code   int
		body   string
		ctype  string
	}{
		{"approved", "", auth.Decision{Path: auth.PathIQ}, nil, 200, "approved: the person approved the request\n", "text/plain; charset=utf-8"},
		{"denied", "", auth.Decision{Path: auth.PathIQ}, fmt.Errorf("x: %w", auth.ErrDenied), 401, "denied: the person refused the request\n", "text/plain; charset=utf-8"},
		{"timeout", "", auth.Decision{Path: auth.PathMessage}, fmt.Errorf("x: %w", auth.ErrTimeout), 401, "timeout: no answer in time\n", "text/plain; charset=utf-8"},
		{"unreachable", "", auth.Decision{Path: auth.PathIQ}, fmt.Errorf("x: %w", auth.ErrUnreachable), 523, "unreachable: the person cannot be reached\n", "text/plain; charset=utf-8"},
		{"json", "application/json", auth.Decision{Path: auth.PathIQ}, nil, 200,
			`{"status":"approved","transaction_id":"PARK1","jid":"alice@example.org/phone","detail":"the person approved the request"}` + "\n", "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAsker()
			ts, logs, _ := startAPI(t, f, Options{ParkAfter: time.Millisecond})
			extra := ""
			if tc.accept != "" {
				extra = "Accept: " + tc.accept + "\r\n"
			}
			_, br := rawGet(t, ts.Listener.Addr().String(), parkQuery, extra)
			p := f.next(t)
			waitFor(t, "the request parked", func() bool { return isParked(p) })
			p.end(tc.dec, tc.err)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || string(body) != tc.body {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tc.code, tc.body)
			}
			for k, v := range map[string]string{
				"X-Transaction-Id": "PARK1", "Content-Type": tc.ctype, "Cache-Control": "no-store",
				"X-Content-Type-Options": "nosniff", "Content-Length": fmt.Sprint(len(tc.body)),
			} {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if !resp.Close || resp.Header.Get("Date") == "" {
				t.Errorf("want Connection: close and a Date, got %v", resp.Header)
			}
			if !strings.Contains(logs.String(), "msg=decision") {
				t.Errorf("no decision logged: %s", logs.String())
			}
		})
	}
}

// isParked reports whether p's request is parked: only a parked
// request's goroutine asks to be notified.
func isParked(p *fakePending) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notify != nil
}

// The parked answer is the one net/http would have written, but for
// Connection: close: same status line, same headers, same body.
func TestParkedAnswerMatchesUnparked(t *testing.T) {
	var heads [2]string
	for i, park := range []time.Duration{time.Minute, time.Millisecond} {
		f := newFakeAsker()
		ts, _, _ := startAPI(t, f, Options{ParkAfter: park})
		_, br := rawGet(t, ts.Listener.Addr().String(), parkQuery, "")
		p := f.next(t)
		if park < time.Second {
			waitFor(t, "parked", func() bool { return isParked(p) })
		}
		p.end(auth.Decision{Path: auth.PathIQ}, fmt.Errorf("x: %w", auth.ErrUnreachable))
		var lines []string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if l == "\r\n" {
				break
			}
			if !strings.HasPrefix(l, "Date: ") && !strings.HasPrefix(l, "Connection: ") {
				lines = append(lines, l)
			}
		}
		heads[i] = strings.Join(lines, "")
	}
	if heads[0] != heads[1] {
		t.Fatalf("unparked:\n%s\nparked:\n%s", heads[0], heads[1])
	}
	if !strings.HasPrefix(heads[0], "HTTP/1.1 523 status code 523\r\n") {
		t.Fatalf("status line: %q", heads[0])
	}
}

func TestParkedCallerHangingUpCancels(t *testing.T) {
	f := newFakeAsker()
	limiter := NewLimiter(Limits{PendingPerJID: 1}, nil)
	ts, logs, _ := startAPI(t, f, Options{ParkAfter: time.Millisecond, Limiter: limiter})
	c, _ := rawGet(t, ts.Listener.Addr().String(), parkQuery, "")
	p := f.next(t)
	waitFor(t, "parked", func() bool { return isParked(p) })
	c.Close()
	waitFor(t, "the request cancelled", p.wasCanceled)
	waitFor(t, "the JID's slot released", func() bool { return limiter.Pending() == 0 })
	waitFor(t, "the cancellation logged", func() bool { return strings.Contains(logs.String(), "caller went away") })
}

// A caller that will not stop sending while parked is cut off.
func TestParkedCallerSendingJunkIsCutOff(t *testing.T) {
	f := newFakeAsker()
	ts, _, _ := startAPI(t, f, Options{ParkAfter: time.Millisecond})
	c, _ := rawGet(t, ts.Listener.Addr().String(), parkQuery, "")
	p := f.next(t)
	waitFor(t, "parked", func() bool { return isParked(p) })
	junk := strings.Repeat("x", 1024)
	for range 64 {
		if _, err := io.WriteString(c, junk); err != nil {
			break // cut off
		}
	}
	waitFor(t, "the request cancelled", p.wasCanceled)
}

// An answer that comes before ParkAfter keeps the connection alive.
func TestFastAnswerKeepsTheConnection(t *testing.T) {
	f := newFakeAsker()
	f.answerAfter = time.Millisecond
	ts, _, _ := startAPI(t, f, Options{ParkAfter: time.Minute})
	reused := 0
	for range 3 {
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			if i.Reused {
				reused++
			}
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", ts.URL+parkQuery, nil)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("status %d, close %v", resp.StatusCode, resp.Close)
		}
	}
	if reused != 2 {
		t.Fatalf("connection reused %d times, want 2", reused)
	}
}

// Serve returns only once parked requests have their answers.
func TestServeWaitsForParkedRequests(t *testing.T) {
	f := newFakeAsker()
	h := New(Options{Confirmer: f, ParkAfter: time.Millisecond, IDs: constReader(0)})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, NewServer(h, nil), []Listener{{Listener: l}}, 5*time.Second, nil) }()
	_, br := rawGet(t, l.Addr().String(), parkQuery, "")
	p := f.next(t)
	waitFor(t, "parked", func() bool { return isParked(p) })
	cancel()
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) with a parked request unanswered", err)
	case <-time.After(100 * time.Millisecond):
	}
	p.end(auth.Decision{Path: auth.PathIQ}, fmt.Errorf("x: %w", auth.ErrShuttingDown))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != statusUnreachable {
		t.Fatalf("status %d", resp.StatusCode)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// A Confirmer that is no Asker is waited for on net/http, as before.
func TestConfirmerWithoutAskIsNotParked(t *testing.T) {
	release := make(chan struct{})
	f := &fakeConfirmer{confirm: func(ctx context.Context, req auth.Request) (auth.Decision, error) {
		<-release
		return auth.Decision{Path: auth.PathIQ}, nil
	}}
	ts, _, _ := startAPI(t, f, Options{ParkAfter: time.Millisecond})
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := ts.Client().Get(ts.URL + parkQuery)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	time.Sleep(20 * time.Millisecond)
	close(release)
	resp := <-done
	if resp == nil {
		return
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("status %d close %v", resp.StatusCode, resp.Close)
	}
}

// Past parkAtOnceAbove requests waiting on net/http, new ones are parked
// at once, so a burst costs what its parked requests cost.
func TestBurstParksAtOnce(t *testing.T) {
	f := newFakeAsker()
	ts, _, h := startAPI(t, f, Options{ParkAfter: time.Minute})
	h.s.parkAtOnce = 1
	addr := ts.Listener.Addr().String()
	_, br1 := rawGet(t, addr, parkQuery, "")
	first := f.next(t)
	_, br2 := rawGet(t, addr, strings.Replace(parkQuery, "PARK1", "PARK2", 1), "")
	second := f.next(t)
	waitFor(t, "the second request parked", func() bool { return isParked(second) })
	if isParked(first) {
		t.Fatal("the first request was parked before ParkAfter")
	}
	for _, c := range []struct {
		p  *fakePending
		br *bufio.Reader
	}{{first, br1}, {second, br2}} {
		c.p.end(auth.Decision{Path: auth.PathIQ}, nil)
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		if parked := c.p == second; resp.Close != parked {
			t.Fatalf("parked %v, Connection: close %v", parked, resp.Close)
		}
	}
}

// Parking works the same over HTTPS: the hijacked connection is the TLS
// one, and the answer goes through it.
func TestParkedOverTLS(t *testing.T) {
	f := newFakeAsker()
	h := New(Options{Confirmer: f, ParkAfter: time.Millisecond, IDs: constReader(0)})
	ts := httptest.NewTLSServer(h)
	defer ts.Close()
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := ts.Client().Get(ts.URL + parkQuery)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	p := f.next(t)
	waitFor(t, "parked", func() bool { return isParked(p) })
	p.end(auth.Decision{Path: auth.PathIQ}, fmt.Errorf("x: %w", auth.ErrDenied))
	resp := <-done
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 401 || string(body) != "denied: the person refused the request\n" || !resp.Close {
		t.Fatalf("%d %q close=%v", resp.StatusCode, body, resp.Close)
	}
}
