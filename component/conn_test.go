package component

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) waitFor(t *testing.T, sub string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.String(), sub) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q; log:\n%s", sub, l.String())
		}
		time.Sleep(time.Millisecond)
	}
}

func confirmAsync(g *Gateway, ctx context.Context, to, txn string, timeout time.Duration) <-chan error {
	done := make(chan error, 1)
	jid, err := auth.ParseJID(to)
	if err != nil {
		panic(err)
	}
	go func() {
		_, err := g.Confirm(ctx, auth.Request{JID: jid, TransactionID: txn, Method: "GET", URL: "example.org", Timeout: timeout})
		done <- err
	}()
	return done
}

func waitErr(t *testing.T, c <-chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Confirm did not return")
		return nil
	}
}

func TestHandshakeRefusedIsClearAndRetried(t *testing.T) {
	fs := newFakeServer(t, "right")
	var logs logBuffer
	g := startGateway(t, fs, func(o *Options) {
		o.Secret = "wrong"
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	logs.waitFor(t, "handshake for auth.localhost refused by "+fs.addr()+": stream error not-authorized")
	// Retried with backoff, never a spin: a few attempts, not thousands.
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), "refused by") < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the handshake was not retried")
		}
		time.Sleep(time.Millisecond)
	}
	if g.Ready() == nil {
		t.Fatal("ready without a handshake")
	}
	if strings.Contains(logs.String(), "wrong") {
		t.Fatal("the secret reached the log")
	}
	err := waitErr(t, confirmAsync(g, context.Background(), alicePhone, "A1", time.Minute))
	if !errors.Is(err, auth.ErrNotConnected) {
		t.Fatalf("Confirm while disconnected: %v, want ErrNotConnected", err)
	}
}

func TestBackoffIsCappedAndExponential(t *testing.T) {
	g := New(Options{Domain: "auth.localhost", BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second})
	d := g.opts.BackoffMin
	var seen []time.Duration
	for range 8 {
		j := g.jitter(d)
		if j < d/2 || j > d {
			t.Fatalf("jitter(%v) = %v, outside [d/2, d]", d, j)
		}
		seen = append(seen, d)
		d = min(d*2, g.opts.BackoffMax)
	}
	if seen[len(seen)-1] != time.Second || seen[1] != 200*time.Millisecond {
		t.Fatalf("backoff sequence %v", seen)
	}
}

// reconnects checks that after the fault the gateway connects again and a
// request sent on the new stream is approved.
func approveOn(t *testing.T, g *Gateway, fc *fakeConn, txn string) {
	t.Helper()
	waitReady(t, g)
	done := confirmAsync(g, context.Background(), alicePhone, txn, time.Minute)
	q := fc.expect(t)
	fc.send(t, fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", q.ID, alicePhone, q.From))
	if err := waitErr(t, done); err != nil {
		t.Fatalf("approval after reconnect: %v", err)
	}
}

func TestReconnectAfterFaults(t *testing.T) {
	faults := []struct {
		name string
		do   func(fc *fakeConn, t *testing.T)
	}{
		{"stream error", func(fc *fakeConn, t *testing.T) {
			fc.send(t, "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
		}},
		{"server-side stream close", func(fc *fakeConn, t *testing.T) { fc.send(t, "</stream:stream>") }},
		{"connection reset (EOF)", func(fc *fakeConn, t *testing.T) { fc.close() }},
		{"malformed XML", func(fc *fakeConn, t *testing.T) { fc.send(t, "<message><<</message>") }},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			fs := newFakeServer(t, "s3cret")
			g := startGateway(t, fs, nil)
			fc := fs.conn(t)
			approveOn(t, g, fc, "BEFORE")
			f.do(fc, t)
			fc2 := fs.conn(t)
			approveOn(t, g, fc2, "AFTER")
		})
	}
}

func TestSilentServerIsNoticedByPings(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	var logs logBuffer
	g := startGateway(t, fs, func(o *Options) {
		o.PingInterval = 20 * time.Millisecond
		o.PingTimeout = 50 * time.Millisecond
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	fc := fs.conn(t) // never read from: pings go unanswered
	_ = fc
	logs.waitFor(t, "no answer to a ping")
	fc2 := fs.conn(t)
	approveOn(t, g, fc2, "AFTER")
}

func TestPingsAnsweredKeepTheStream(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, func(o *Options) {
		o.PingInterval = 5 * time.Millisecond
		o.PingTimeout = 2 * time.Second
	})
	fc := fs.conn(t)
	// expect() answers pings to localhost; wait for several.
	pinged := 0
	deadline := time.Now().Add(5 * time.Second)
	_ = fc.c.SetReadDeadline(deadline)
	for pinged < 5 {
		in := new(inStanza)
		if err := fc.next(in); err != nil {
			t.Fatal(err)
		}
		if len(in.Other) == 1 && in.Other[0].XMLName.Space == nsPing {
			if in.To != "localhost" || in.From != "auth.localhost" || in.Type != "get" {
				t.Fatalf("ping %+v: want get from auth.localhost to localhost", in)
			}
			fc.send(t, fmt.Sprintf("<iq type='result' id='%s' from='localhost' to='auth.localhost'/>", in.ID))
			pinged++
		}
	}
	if g.Ready() != nil {
		t.Fatal("not ready while pings are answered")
	}
	select {
	case <-fs.conns:
		t.Fatal("reconnected although pings were answered")
	default:
	}
}

func TestStartedBeforeServer(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	addr := fs.addr()
	_ = fs.ln.Close() // nothing listens yet
	g := startGateway(t, fs, func(o *Options) { o.Address = addr })
	time.Sleep(30 * time.Millisecond) // let it fail a few times
	if g.Ready() == nil {
		t.Fatal("ready with no server")
	}
	fs2 := listenOn(t, addr, "s3cret")
	approveOn(t, g, fs2.conn(t), "LATE")
}

// listenOn starts a fake server on a given address (retrying briefly in
// case the port is still being released).
func listenOn(t *testing.T, addr, secret string) *fakeServer {
	t.Helper()
	for i := 0; ; i++ {
		fs, err := tryFakeServer(t, addr, secret)
		if err == nil {
			return fs
		}
		if i > 100 {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAnswerAfterReconnectStillApproves(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, nil)
	fc := fs.conn(t)
	waitReady(t, g)
	done := confirmAsync(g, context.Background(), alicePhone, "KEEP", time.Minute)
	q := fc.expect(t)
	fc.close()
	fc2 := fs.conn(t)
	waitReady(t, g)
	fc2.send(t, fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", q.ID, alicePhone, q.From))
	if err := waitErr(t, done); err != nil {
		t.Fatalf("answer after reconnect: %v", err)
	}
}

func TestConflictAndCleanup(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, nil)
	fc := fs.conn(t)
	waitReady(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	first := confirmAsync(g, ctx, alicePhone, "DUP", time.Minute)
	fc.expect(t)
	// same id, same bare JID (another resource): 409
	if err := waitErr(t, confirmAsync(g, context.Background(), "alice@localhost/laptop", "DUP", time.Minute)); !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("duplicate: %v, want ErrConflict", err)
	}
	// same id, another person: fine
	other := confirmAsync(g, context.Background(), "bob@localhost", "DUP", time.Minute)
	q := fc.expect(t)
	fc.send(t, fmt.Sprintf("<message from='bob@localhost/x' to='%s'><body>dup</body></message>", q.From))
	if err := waitErr(t, other); err != nil {
		t.Fatalf("bob: %v", err)
	}
	cancel() // the HTTP caller hung up
	if err := waitErr(t, first); !errors.Is(err, auth.ErrCanceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if n := g.Pending(); n != 0 {
		t.Fatalf("%d left pending after cancellation", n)
	}
}

func TestAmbiguousPlainTextCodeIsIgnored(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, nil)
	fc := fs.conn(t)
	waitReady(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := confirmAsync(g, ctx, alice, "abc", time.Minute)
	q := fc.expect(t)
	b := confirmAsync(g, ctx, alice, "ABC", time.Minute)
	fc.expect(t)
	fc.send(t, fmt.Sprintf("<message from='alice@localhost/x' to='%s'><body>Abc</body></message>", q.From))
	fc.sync(t)
	if g.Pending() != 2 {
		t.Fatal("an ambiguous code decided something")
	}
	cancel()
	waitErr(t, a)
	waitErr(t, b)
}

func TestTimeoutWithFakeClock(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	clk := newFakeClock()
	g := startGateway(t, fs, func(o *Options) { o.Clock = clk })
	fc := fs.conn(t)
	waitReady(t, g)
	done := confirmAsync(g, context.Background(), alicePhone, "SLOW", 30*time.Second)
	q := fc.expect(t)
	clk.waitTimers(t, 30*time.Second)
	clk.Advance(30 * time.Second)
	if err := waitErr(t, done); !errors.Is(err, auth.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	// a late answer changes nothing and blocks nothing
	fc.send(t, fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", q.ID, alicePhone, q.From))
	fc.sync(t)
	if g.Pending() != 0 {
		t.Fatal("left pending")
	}
}

func TestDuplicateAnswersDoNotBlockTheReader(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, nil)
	fc := fs.conn(t)
	waitReady(t, g)
	done := confirmAsync(g, context.Background(), alicePhone, "ONCE", time.Minute)
	q := fc.expect(t)
	for range 50 {
		fc.send(t, fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", q.ID, alicePhone, q.From))
		fc.send(t, fmt.Sprintf("<iq type='error' id='%s' from='%s' to='%s'><error type='auth'><not-authorized xmlns='%s'/></error></iq>", q.ID, alicePhone, q.From, stz))
	}
	fc.sync(t) // the reader got through all of them
	if err := waitErr(t, done); err != nil {
		t.Fatalf("first answer should win: %v", err)
	}
}

func TestSendFailureAnswersAtOnce(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, func(o *Options) { o.BackoffMin = time.Hour; o.BackoffMax = time.Hour })
	fc := fs.conn(t)
	waitReady(t, g)
	s := g.cur.Load()
	_ = s.conn.Close() // the socket dies under the gateway
	err := waitErr(t, confirmAsync(g, context.Background(), alicePhone, "DEAD", time.Minute))
	if !errors.Is(err, auth.ErrNotConnected) {
		t.Fatalf("got %v, want ErrNotConnected", err)
	}
	_ = fc
	if g.Pending() != 0 {
		t.Fatal("left pending")
	}
}

func TestShutdownDrainsThenAnswersTheRest(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, nil)
	fc := fs.conn(t)
	waitReady(t, g)
	answered := confirmAsync(g, context.Background(), alicePhone, "ANS", time.Minute)
	q1 := fc.expect(t)
	stuck := confirmAsync(g, context.Background(), "bob@localhost/x", "STUCK", time.Minute)
	fc.expect(t)

	ctx, cancel := context.WithCancel(context.Background())
	shut := make(chan struct{})
	go func() { g.Shutdown(ctx); close(shut) }()
	for g.Ready() == nil {
		time.Sleep(time.Millisecond)
	}
	if err := waitErr(t, confirmAsync(g, context.Background(), alicePhone, "NEW", time.Minute)); !errors.Is(err, auth.ErrShuttingDown) {
		t.Fatalf("new request while draining: %v", err)
	}
	fc.send(t, fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", q1.ID, alicePhone, q1.From))
	if err := waitErr(t, answered); err != nil {
		t.Fatalf("pending request answered during the grace: %v", err)
	}
	cancel() // grace over
	<-shut
	if err := waitErr(t, stuck); !errors.Is(err, auth.ErrShuttingDown) {
		t.Fatalf("the rest: %v, want ErrShuttingDown", err)
	}
}

func TestManners(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, func(o *Options) { o.Version = "1.2.3" })
	fc := fs.conn(t)
	waitReady(t, g)
	cases := []struct {
		name, send string
		check      func(t *testing.T, in *inStanza, raw string)
	}{
		{"disco#info", "<iq type='get' id='d1' from='alice@localhost/x' to='auth.localhost'><query xmlns='" + nsDiscoInfo + "'/></iq>",
			func(t *testing.T, in *inStanza, raw string) {
				for _, f := range []string{NSHTTPAuth, nsDiscoInfo, nsPing, nsVersion, "<identity"} {
					if !strings.Contains(raw, f) {
						t.Errorf("disco#info lacks %s: %s", f, raw)
					}
				}
			}},
		{"disco#items", "<iq type='get' id='d2' from='alice@localhost/x' to='auth.localhost'><query xmlns='" + nsDiscoItems + "'/></iq>",
			func(t *testing.T, in *inStanza, raw string) {
				if in.Type != "result" || strings.Contains(raw, "<item") {
					t.Errorf("disco#items: %s", raw)
				}
			}},
		{"ping", "<iq type='get' id='p1' from='alice@localhost/x' to='auth.localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
			func(t *testing.T, in *inStanza, raw string) {
				if in.Type != "result" || in.To != "alice@localhost/x" || in.From != "auth.localhost" {
					t.Errorf("ping: %s", raw)
				}
			}},
		{"version", "<iq type='get' id='v1' from='alice@localhost/x' to='auth.localhost'><query xmlns='jabber:iq:version'/></iq>",
			func(t *testing.T, in *inStanza, raw string) {
				if !strings.Contains(raw, "<version>1.2.3</version>") {
					t.Errorf("version: %s", raw)
				}
			}},
		{"unknown get", "<iq type='get' id='u1' from='alice@localhost/x' to='auth.localhost'><vCard xmlns='vcard-temp'/></iq>",
			func(t *testing.T, in *inStanza, raw string) {
				if c, _ := in.condition(); in.Type != "error" || c != "service-unavailable" {
					t.Errorf("unknown get: %s", raw)
				}
			}},
		{"unknown set", "<iq type='set' id='u2' from='alice@localhost/x' to='auth.localhost'><query xmlns='jabber:iq:register'/></iq>",
			func(t *testing.T, in *inStanza, raw string) {
				if c, _ := in.condition(); in.Type != "error" || c != "service-unavailable" {
					t.Errorf("unknown set: %s", raw)
				}
			}},
		{"subscribe", "<presence type='subscribe' id='s1' from='alice@localhost/x' to='auth.localhost'/>",
			func(t *testing.T, in *inStanza, raw string) {
				if in.XMLName.Local != "presence" || in.Type != "subscribed" || in.To != "alice@localhost" {
					t.Errorf("subscribe: %s", raw)
				}
				if in2, raw2 := fc.expectRaw(t); in2.XMLName.Local != "presence" || in2.Type != "" || in2.To != "alice@localhost" {
					t.Errorf("subscribe: want available presence after subscribed, got %s", raw2)
				}
			}},
		{"probe", "<presence type='probe' id='pr' from='alice@localhost' to='auth.localhost'/>",
			func(t *testing.T, in *inStanza, raw string) {
				if in.XMLName.Local != "presence" || in.Type != "" || in.From != "auth.localhost" {
					t.Errorf("probe: %s", raw)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc.send(t, tc.send)
			in, raw := fc.expectRaw(t)
			tc.check(t, in, raw)
		})
	}
	// Nothing is sent in reply to result or error stanzas, or to what we
	// do not know.
	fc.send(t, "<iq type='result' id='r1' from='alice@localhost/x' to='auth.localhost'/>")
	fc.send(t, "<iq type='error' id='r2' from='alice@localhost/x' to='auth.localhost'><error type='cancel'><item-not-found xmlns='"+stz+"'/></error></iq>")
	fc.send(t, "<message type='error' id='r3' from='alice@localhost/x' to='auth.localhost'><error type='cancel'><item-not-found xmlns='"+stz+"'/></error></message>")
	fc.send(t, "<message type='chat' id='r4' from='alice@localhost/x' to='auth.localhost'><body>hello</body></message>")
	fc.send(t, "<iq type='get' id='sync' from='localhost' to='auth.localhost'><query xmlns='"+nsDiscoItems+"'/></iq>")
	if in, raw := fc.expectRaw(t); in.ID != "sync" {
		t.Fatalf("replied to a result, error or chat: %s", raw)
	}
}

// A write that times out part-way leaves half a stanza on the wire:
// whatever is written after it is garbage to the server, and the request
// it carries is lost without an error. The first failed write must end
// the stream, so later sends fail at once (523) and the gateway
// reconnects, instead of appending to the fragment.
func TestFailedWriteEndsTheStream(t *testing.T) {
	ours, theirs := net.Pipe()
	defer theirs.Close()
	s := newStream(ours, &Options{WriteTimeout: 200 * time.Millisecond})
	defer s.close()

	resume := make(chan struct{})
	got := make(chan []byte, 1)
	go func() { // the server reads a little, stalls, then reads on
		buf := make([]byte, 10)
		n, _ := theirs.Read(buf)
		<-resume
		rest, _ := io.ReadAll(theirs)
		got <- append(buf[:n], rest...)
	}()

	first := []byte("<iq id='one'>" + strings.Repeat("x", 100) + "</iq>")
	if err := s.send(first); err == nil {
		t.Fatal("the stalled write succeeded")
	}
	close(resume) // the server reads again
	if err := s.send([]byte("<iq id='two'/>")); err == nil {
		t.Fatal("a send after a failed write succeeded: it went out after half a stanza")
	}
	s.close()
	_ = theirs.Close()
	if wire := <-got; bytes.Contains(wire, []byte("two")) {
		t.Fatalf("the server got a stanza after a truncated one: %q", wire)
	}
}

// Hostile but well-formed stanzas from other users (the server relays
// them) are dropped without ending the stream: deep nesting (encoding/xml
// only recurses for elements it decodes into, and skips the rest without
// recursion), thousands of children, large attributes, odd from values.
// An answer sent after them still counts.
func TestHostileStanzasKeepTheStream(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, nil)
	fc := fs.conn(t)
	waitReady(t, g)
	s := g.cur.Load()
	done := confirmAsync(g, context.Background(), alice, "HOSTILE", time.Minute)
	q := fc.expect(t)
	const depth = 20_000 // above encoding/xml's unmarshal depth limit (10,000)
	for _, st := range []string{
		"<message from='bob@localhost/x'>" + strings.Repeat("<a>", depth) + strings.Repeat("</a>", depth) + "</message>",
		"<message from='bob@localhost/x'><confirm xmlns='" + NSHTTPAuth + "' id='HOSTILE'><error>" + strings.Repeat("<e>", depth) + strings.Repeat("</e>", depth) + "</error></confirm></message>",
		"<message from='bob@localhost/x'><body>" + strings.Repeat("<body>", depth) + strings.Repeat("</body>", depth) + "</body></message>",
		"<message from='bob@localhost/x'>" + strings.Repeat("<body>HOSTILE</body>", 5_000) + "</message>",
		"<message from='" + strings.Repeat("b", 20_000) + "@localhost/x'><body>HOSTILE</body></message>",
		"<message from='alice@localhost@evil/x'><body>HOSTILE</body></message>",
		"<message from='alice@localhost/'><body>HOSTILE</body></message>",
		"<message from='@localhost/x'><body>HOSTILE</body></message>",
		"<message from='localhost'><body>HOSTILE</body></message>",
		"<message from='alice@localhost\u202e/x'><body>HOSTILE</body></message>",
		"<message><body>HOSTILE</body></message>",
		"<iq type='result' id='" + q.ID + "'/>",
	} {
		fc.send(t, st)
	}
	fc.sync(t)
	select {
	case err := <-done:
		t.Fatalf("decided by a hostile stanza: %v", err)
	default:
	}
	if g.cur.Load() != s {
		t.Fatal("the stream was replaced")
	}
	fc.send(t, fmt.Sprintf("<message from='%s/phone' to='%s'><body>HOSTILE</body></message>", alice, q.From))
	if err := waitErr(t, done); err != nil {
		t.Fatalf("the real answer after them: %v", err)
	}
}

// A stanza over the size limit ends the stream (the memory it may take
// is bounded) and the gateway reconnects; requests already sent still get
// their answer.
func TestOversizedStanzaEndsTheStream(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, nil)
	fc := fs.conn(t)
	waitReady(t, g)
	done := confirmAsync(g, context.Background(), alice, "BIG", time.Minute)
	q := fc.expect(t)
	go fc.send(t, "<message from='bob@localhost/x'><body>"+strings.Repeat("x", maxStanzaBytes+2*readAhead)+"</body></message>")
	fc2 := fs.conn(t)
	waitReady(t, g)
	fc2.send(t, fmt.Sprintf("<message from='%s/phone' to='%s'><confirm xmlns='%s' id='BIG'/></message>", alice, q.From, NSHTTPAuth))
	if err := waitErr(t, done); err != nil {
		t.Fatalf("answer after the reconnect: %v", err)
	}
}

// A server that keeps delivering stanzas is alive even when a pong is
// late: no reconnect.
func TestTrafficCountsAsLiveness(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	var logs logBuffer
	g := startGateway(t, fs, func(o *Options) {
		o.PingInterval = 10 * time.Millisecond
		o.PingTimeout = 500 * time.Millisecond
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	fc := fs.conn(t)
	waitReady(t, g)
	// Pings are never answered, but presence keeps arriving for 1.5 s.
	stop := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(stop) {
		fc.send(t, "<presence from='alice@localhost/x' to='auth.localhost'/>")
		time.Sleep(5 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "no answer to a ping") {
		t.Fatalf("a stream delivering stanzas was taken for dead:\n%s", logs.String())
	}
	// Silence: now the unanswered pings end the stream.
	logs.waitFor(t, "no answer to a ping")
	fs.conn(t)
}

func TestHandshakeErrorHints(t *testing.T) {
	for cond, hint := range map[string]string{
		"not-authorized": "check the component secret",
		"conflict":       "is a second gateway running?",
		"host-unknown":   "does not know this component domain",
	} {
		e := &HandshakeError{Domain: "auth.localhost", Server: "127.0.0.1:5347", Err: &StreamError{Condition: cond}}
		if !strings.Contains(e.Error(), hint) || !strings.Contains(e.Error(), "auth.localhost") || !strings.Contains(e.Error(), "127.0.0.1:5347") {
			t.Errorf("%s: %s", cond, e.Error())
		}
	}
}

func TestServerCloseIsNamed(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	var logs logBuffer
	startGateway(t, fs, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	fc := fs.conn(t)
	fc.close()
	logs.waitFor(t, "the server closed the connection")
}

func TestStrayPongWarnsOfASecondConnection(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	var logs logBuffer
	g := startGateway(t, fs, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	fc := fs.conn(t)
	waitReady(t, g)
	fc.send(t, "<iq type='result' id='not-ours' from='localhost' to='auth.localhost'/>")
	logs.waitFor(t, "a second gateway connected for this component domain")
}

// A server that accepts the handshake and drops the stream at once gets
// reconnections spaced by the growing backoff, not a spin.
func TestFlappingServerBacksOff(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	startGateway(t, fs, func(o *Options) {
		o.BackoffMin = 10 * time.Millisecond
		o.BackoffMax = 10 * time.Second
	})
	var at []time.Time
	for range 7 {
		fc := fs.conn(t)
		at = append(at, time.Now())
		fc.close()
	}
	// The 7th connection follows a delay of at least 10 ms * 2^5 / 2
	// (jitter keeps [d/2, d]); a loaded machine only makes it longer.
	if gap := at[6].Sub(at[5]); gap < 150*time.Millisecond {
		t.Fatalf("reconnected %v after the previous drop: the backoff was reset by a stream that did not last", gap)
	}
}
