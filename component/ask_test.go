package component

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

func askReq(t *testing.T, to, txn string, timeout time.Duration) auth.Request {
	t.Helper()
	jid, err := auth.ParseJID(to)
	if err != nil {
		t.Fatal(err)
	}
	return auth.Request{JID: jid, TransactionID: txn, Method: "GET", URL: "example.org", Timeout: timeout}
}

func waitDone(t *testing.T, p auth.Pending) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not end")
	}
}

// Ask returns at once; the answer ends the request, and Notify's function
// is called exactly once, from the reader, with the outcome ready.
func TestAskNotifiesOnceOnTheAnswer(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, nil)
	fc := fs.conn(t)
	waitReady(t, g)
	p, err := g.Ask(askReq(t, alicePhone, "ASK1", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	seen := make(chan error, 2)
	p.Notify(func() {
		calls.Add(1)
		_, err := p.Result()
		seen <- err
	})
	q := fc.expect(t)
	select {
	case <-p.Done():
		t.Fatal("ended before the answer")
	default:
	}
	for range 3 { // duplicates change nothing
		fc.send(t, fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", q.ID, alicePhone, q.From))
	}
	fc.sync(t)
	waitDone(t, p)
	if err := <-seen; err != nil {
		t.Fatalf("outcome seen by Notify: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("Notify's function called %d times", n)
	}
	if dec, err := p.Result(); err != nil || dec.Path != auth.PathIQ {
		t.Fatalf("Result: %v %v", dec, err)
	}
	// Notify after the end calls at once.
	late := make(chan struct{})
	p.Notify(func() { close(late) })
	<-late
	if g.Pending() != 0 {
		t.Fatal("left pending")
	}
}

func TestAskCancelAndTimeout(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	clk := newFakeClock()
	g := startGateway(t, fs, func(o *Options) { o.Clock = clk })
	fc := fs.conn(t)
	waitReady(t, g)

	p, err := g.Ask(askReq(t, alicePhone, "CANCEL", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	q := fc.expect(t)
	p.Cancel()
	waitDone(t, p)
	if _, err := p.Result(); !errors.Is(err, auth.ErrCanceled) {
		t.Fatalf("got %v, want ErrCanceled", err)
	}
	// its deadline timer was stopped with it
	clk.mu.Lock()
	for _, tm := range clk.timers {
		if tm.dur == time.Minute && !tm.done {
			t.Error("the deadline timer of an ended request is still live")
		}
	}
	clk.mu.Unlock()
	// a late answer decides nothing
	fc.send(t, fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", q.ID, alicePhone, q.From))
	fc.sync(t)
	if _, err := p.Result(); !errors.Is(err, auth.ErrCanceled) {
		t.Fatalf("after a late answer: %v", err)
	}

	p, err = g.Ask(askReq(t, alice, "SLOW", 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fc.expect(t)
	clk.waitTimers(t, 30*time.Second)
	clk.Advance(30 * time.Second)
	waitDone(t, p)
	if dec, err := p.Result(); !errors.Is(err, auth.ErrTimeout) || dec.Path != auth.PathMessage {
		t.Fatalf("got %v %v, want ErrTimeout by message", dec, err)
	}
}

// Pending requests end with ErrShuttingDown when the grace is over, and
// a request refused by the server falls back to a message on its own.
func TestAskFallbackAndShutdown(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, nil)
	fc := fs.conn(t)
	waitReady(t, g)
	p, err := g.Ask(askReq(t, alicePhone, "FALL", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	q := fc.expect(t)
	fc.send(t, fmt.Sprintf("<iq type='error' id='%s' from='%s' to='%s'><error type='cancel'><service-unavailable xmlns='%s'/></error></iq>", q.ID, alicePhone, q.From, stz))
	m := fc.expect(t)
	if m.XMLName.Local != "message" || m.To != alice {
		t.Fatalf("fallback sent %s to %s", m.XMLName.Local, m.To)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace
	g.Shutdown(ctx)
	waitDone(t, p)
	if dec, err := p.Result(); !errors.Is(err, auth.ErrShuttingDown) || dec.Path != auth.PathFallback {
		t.Fatalf("got %v %v, want ErrShuttingDown by fallback", dec, err)
	}
	if _, err := g.Ask(askReq(t, alicePhone, "AFTER", time.Minute)); !errors.Is(err, auth.ErrShuttingDown) {
		t.Fatalf("Ask after Shutdown: %v", err)
	}
}
