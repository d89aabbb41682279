package component

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a scripted XEP-0114 server on 127.0.0.1:0. Each accepted
// connection is handshaken (or refused) and handed to the test as a
// *fakeConn on conns.
type fakeServer struct {
	t      *testing.T
	ln     net.Listener
	secret string
	refuse func(n int) string // stream error condition for the nth connection ("" = accept)
	conns  chan *fakeConn
	mu     sync.Mutex
	n      int
}

func newFakeServer(t *testing.T, secret string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{t: t, ln: ln, secret: secret, conns: make(chan *fakeConn, 16)}
	t.Cleanup(func() { _ = ln.Close() })
	go fs.accept()
	return fs
}

func (fs *fakeServer) addr() string { return fs.ln.Addr().String() }

func (fs *fakeServer) accept() {
	for {
		c, err := fs.ln.Accept()
		if err != nil {
			return
		}
		fs.mu.Lock()
		fs.n++
		n := fs.n
		fs.mu.Unlock()
		go fs.serve(c, n)
	}
}

func (fs *fakeServer) serve(c net.Conn, n int) {
	fc := &fakeConn{c: c, dec: xml.NewDecoder(bufio.NewReader(c))}
	fs.t.Cleanup(func() { _ = c.Close() })
	// stream header
	for {
		tok, err := fc.dec.Token()
		if err != nil {
			_ = c.Close()
			return
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "stream" {
			for _, a := range se.Attr {
				if a.Name.Local == "to" {
					fc.domain = a.Value
				}
			}
			break
		}
	}
	id := fmt.Sprintf("sid%d", n)
	fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='%s' id='%s'>", fc.domain, id)
	var hs struct {
		XMLName xml.Name
		Digest  string `xml:",chardata"`
	}
	if err := fc.next(&hs); err != nil {
		_ = c.Close()
		return
	}
	sum := sha1.Sum([]byte(id + fs.secret))
	cond := ""
	if fs.refuse != nil {
		cond = fs.refuse(n)
	}
	if cond == "" && hs.Digest != hex.EncodeToString(sum[:]) {
		cond = "not-authorized"
	}
	if cond != "" {
		fmt.Fprintf(c, "<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>", cond)
		_ = c.Close()
		return
	}
	_, _ = io.WriteString(c, "<handshake/>")
	fs.conns <- fc
}

// conn waits for the next handshaken connection.
func (fs *fakeServer) conn(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case c := <-fs.conns:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection from the gateway")
		return nil
	}
}

// fakeConn is the server side of one component stream.
type fakeConn struct {
	c      net.Conn
	dec    *xml.Decoder
	domain string
	mu     sync.Mutex
}

// next decodes the next top-level element into v.
func (fc *fakeConn) next(v any) error {
	for {
		tok, err := fc.dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return fc.dec.DecodeElement(v, &t)
		case xml.EndElement:
			return io.EOF
		}
	}
}

// expect reads the next stanza, skipping pings when skipPings, failing the
// test after 5 s.
func (fc *fakeConn) expect(t *testing.T) *inStanza {
	t.Helper()
	_ = fc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		in := new(inStanza)
		if err := fc.next(in); err != nil {
			t.Fatalf("fake server: reading: %v", err)
		}
		if in.XMLName.Local == "iq" && len(in.Other) > 0 && in.Other[0].XMLName.Space == nsPing && in.To != fc.domain {
			fc.send(t, fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", in.ID, in.To, in.From))
			continue
		}
		return in
	}
}

func (fc *fakeConn) send(t *testing.T, s string) {
	t.Helper()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if _, err := io.WriteString(fc.c, s); err != nil {
		t.Logf("fake server: write: %v", err)
	}
}

// sync makes sure every stanza sent before it was handled: the gateway
// answers a disco#items query, and its reader is sequential.
func (fc *fakeConn) sync(t *testing.T) {
	t.Helper()
	fc.send(t, fmt.Sprintf("<iq type='get' id='sync' from='localhost' to='%s'><query xmlns='%s'/></iq>", fc.domain, nsDiscoItems))
	for {
		in := fc.expect(t)
		if in.ID == "sync" {
			return
		}
	}
}

func (fc *fakeConn) close() { _ = fc.c.Close() }

// startGateway runs a gateway against fs until the test ends.
func startGateway(t *testing.T, fs *fakeServer, mod func(*Options)) *Gateway {
	t.Helper()
	o := Options{
		Domain: "auth.localhost", Secret: "s3cret", Address: fs.addr(),
		PingInterval: time.Hour, BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		DialTimeout: 2 * time.Second, Texts: testTexts{},
		Logger: testLogger(t),
	}
	if mod != nil {
		mod(&o)
	}
	g := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return g
}

func waitReady(t *testing.T, g *Gateway) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for g.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatal("gateway never became ready")
		}
		time.Sleep(time.Millisecond)
	}
}

type testTexts struct{}

func (testTexts) Bodies(url, method, code string) []authText {
	return []authText{{Lang: "en", Body: "Confirm " + method + " " + url + " code " + code}, {Lang: "fr", Body: "Confirmez " + code}}
}

func tryFakeServer(t *testing.T, addr, secret string) (*fakeServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	fs := &fakeServer{t: t, ln: ln, secret: secret, conns: make(chan *fakeConn, 16)}
	t.Cleanup(func() { _ = ln.Close() })
	go fs.accept()
	return fs, nil
}

// expectRaw is expect, also returning the stanza re-read as raw XML.
func (fc *fakeConn) expectRaw(t *testing.T) (*inStanza, string) {
	t.Helper()
	_ = fc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var raw struct {
		Inner   []byte `xml:",innerxml"`
		XMLName xml.Name
		Attrs   []xml.Attr `xml:",any,attr"`
	}
	if err := fc.next(&raw); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("<" + raw.XMLName.Local)
	for _, a := range raw.Attrs {
		fmt.Fprintf(&b, " %s='%s'", a.Name.Local, a.Value)
	}
	b.WriteString(">")
	b.Write(raw.Inner)
	b.WriteString("</" + raw.XMLName.Local + ">")
	in, err := parseStanza([]byte(b.String()))
	if err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	return in, b.String()
}

// fakeClock fires timers when advanced.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    chan time.Time
	f    func() // AfterFunc: called instead of sending on c
	at   time.Time
	dur  time.Duration
	done bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1e9, 0)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: make(chan time.Time, 1), at: c.now.Add(d), dur: d}
	c.timers = append(c.timers, t)
	return &fakeTimerHandle{c: c, t: t}
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{f: f, at: c.now.Add(d), dur: d}
	c.timers = append(c.timers, t)
	return &fakeTimerHandle{c: c, t: t}
}

type fakeTimerHandle struct {
	c *fakeClock
	t *fakeTimer
}

func (h *fakeTimerHandle) C() <-chan time.Time { return h.t.c }
func (h *fakeTimerHandle) Stop() bool {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	was := !h.t.done
	h.t.done = true
	return was
}

// Advance moves the clock and fires the timers that are due (AfterFunc
// functions on their own goroutines, as time.AfterFunc does).
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if !t.done && !t.at.After(c.now) {
			t.done = true
			if t.f != nil {
				go t.f()
			} else {
				t.c <- c.now
			}
		}
	}
}

// waitTimers waits until a live timer of duration d exists.
func (c *fakeClock) waitTimers(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		for _, x := range c.timers {
			if !x.done && x.dur == d {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no timer of %v", d)
		}
		time.Sleep(time.Millisecond)
	}
}
