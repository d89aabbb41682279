// Package xmpptest is a minimal, fast XMPP client for tests and benchmarks:
// it logs in to a server over plain TCP (RFC 6120 stream, SASL PLAIN,
// resource binding; no TLS, so loopback only), or connects as a XEP-0114
// component, and answers XEP-0070 (HTTP authentication over XMPP) confirm
// requests in any of the shapes real clients use.
//
// It is built on encoding/xml alone and does not import gosrc.io/xmpp, so the
// gateway is tested against an independent implementation.
//
// A Client is safe for concurrent use: sends are serialised, and incoming
// stanzas are read by one goroutine that hands each to the handler (see
// Handle) or, without a handler, to the Stanzas channel.
package xmpptest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	defaultDialTimeout = 10 * time.Second
	writeTimeout       = 10 * time.Second
	// closeWait bounds how long Close waits for the server to close its
	// side of the stream after ours.
	closeWait = 2 * time.Second
	queueSize = 1024
)

var (
	// ErrStreamClosed is the end of a stream closed by the server with
	// </stream:stream>.
	ErrStreamClosed = errors.New("xmpptest: stream closed by the server")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("xmpptest: client closed")
)

// StreamError is a <stream:error/> received from the server; the stream ends
// after it.
type StreamError struct {
	Condition string // e.g. "conflict", "not-authorized"
	Text      string
	Raw       []byte
}

func (e *StreamError) Error() string {
	if e.Text != "" {
		return "xmpptest: stream error: " + e.Condition + ": " + e.Text
	}
	return "xmpptest: stream error: " + e.Condition
}

// Handler is called by the reading goroutine for every incoming stanza, in
// order. It runs on the reading goroutine: it may send, but while it runs
// nothing else is read.
type Handler func(c *Client, s Stanza)

// Config is everything Dial needs, with the options Dial does not take.
type Config struct {
	Addr     string // host:port of the server's client port
	JID      string // bare JID, user@domain
	Password string
	Resource string // requested resource; "" lets the server choose
	// Priority goes into the initial presence when it is not 0.
	Priority int
	// NoPresence skips the initial presence: the session stays
	// unavailable, so messages to the bare JID are not delivered to it.
	NoPresence bool
	// Handler, if set, receives stanzas from the first one on (setting it
	// later with Handle can miss nothing either: earlier stanzas wait in
	// Stanzas).
	Handler Handler
	// Timeout bounds connecting and logging in when ctx has no deadline.
	// Default 10 s.
	Timeout time.Duration
}

// Client is a logged-in XMPP session (or a connected component).
type Client struct {
	conn      net.Conn
	rec       *recorder
	dec       *xml.Decoder
	p         parser
	jid       string
	component bool
	idPrefix  string
	ids       atomic.Uint64

	wmu sync.Mutex
	w   builder

	early     []Stanza // read during login, delivered first
	handler   atomic.Pointer[Handler]
	inHandler atomic.Bool
	ch        chan Stanza
	closing   chan struct{}
	done      chan struct{}
	errMu     sync.Mutex
	err       error
	closeOnce sync.Once
}

// Dial connects to addr, logs in as jid (user@domain) with password using
// SASL PLAIN without TLS, binds resource, sends initial presence and waits
// for the server to send it back (so the session is available when Dial
// returns). Use it on loopback only: the password crosses the wire in clear.
func Dial(ctx context.Context, addr, jid, password, resource string) (*Client, error) {
	return DialConfig(ctx, Config{Addr: addr, JID: jid, Password: password, Resource: resource})
}

// DialConfig is Dial with every option.
func DialConfig(ctx context.Context, cfg Config) (*Client, error) {
	local, domain, ok := strings.Cut(cfg.JID, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(domain, "/@") {
		return nil, fmt.Errorf("xmpptest: JID %q: want user@domain", cfg.JID)
	}
	c, stop, err := connect(ctx, cfg.Addr, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	if err := c.login(local, domain, cfg); err != nil {
		return nil, c.abort(ctx, stop, err)
	}
	if err := c.finishDial(ctx, stop); err != nil {
		return nil, err
	}
	if cfg.Handler != nil {
		c.Handle(cfg.Handler)
	}
	go c.readLoop()
	return c, nil
}

// connect opens the TCP connection and arms the negotiation deadline.
func connect(ctx context.Context, addr string, timeout time.Duration) (*Client, func() bool, error) {
	if timeout <= 0 {
		timeout = defaultDialTimeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("xmpptest: %w", err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	var prefix [4]byte
	_, _ = rand.Read(prefix[:])
	c := &Client{
		conn:     conn,
		rec:      &recorder{br: bufio.NewReaderSize(conn, 32<<10)},
		idPrefix: hex.EncodeToString(prefix[:]) + "-",
		ch:       make(chan Stanza, queueSize),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	c.newDecoder()
	return c, stop, nil
}

func (c *Client) abort(ctx context.Context, stop func() bool, err error) error {
	stop()
	_ = c.conn.Close()
	ctxErr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && ctxErr == nil && !time.Now().Before(d) {
		// The connection deadline is the context's: it may fire first.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil {
		return fmt.Errorf("xmpptest: %w (%v)", ctxErr, err)
	}
	return err
}

// finishDial disarms the negotiation deadline.
func (c *Client) finishDial(ctx context.Context, stop func() bool) error {
	if !stop() {
		_ = c.conn.Close()
		return fmt.Errorf("xmpptest: %w", ctx.Err())
	}
	if err := c.conn.SetDeadline(time.Time{}); err != nil {
		_ = c.conn.Close()
		return fmt.Errorf("xmpptest: %w", err)
	}
	return nil
}

func (c *Client) newDecoder() {
	c.rec.reset()
	c.dec = xml.NewDecoder(c.rec)
}

func (c *Client) login(local, domain string, cfg Config) error {
	features, err := c.openStream(domain, NSClient)
	if err != nil {
		return err
	}
	var f streamFeatures
	if err := features.Decode(&f); err != nil {
		return err
	}
	if !f.hasMechanism("PLAIN") {
		return fmt.Errorf("xmpptest: server does not offer SASL PLAIN without TLS (mechanisms %v): %s", f.Mechanisms, features.Raw)
	}
	creds := base64.StdEncoding.EncodeToString([]byte("\x00" + local + "\x00" + cfg.Password))
	if err := c.SendRaw("<auth xmlns='" + nsSASL + "' mechanism='PLAIN'>" + creds + "</auth>"); err != nil {
		return err
	}
	var st Stanza
	if err := c.readNegotiation(&st); err != nil {
		return err
	}
	if st.Name != "success" {
		return fmt.Errorf("xmpptest: SASL PLAIN as %s@%s failed: %s: %s", local, domain, st.firstChild.Local, st.Raw)
	}

	// RFC 6120 6.4.6: the stream restarts after SASL success. The old
	// decoder has read exactly up to the end of <success/>.
	c.newDecoder()
	features, err = c.openStream(domain, NSClient)
	if err != nil {
		return err
	}
	f = streamFeatures{}
	if err := features.Decode(&f); err != nil {
		return err
	}
	if f.Bind == nil {
		return fmt.Errorf("xmpptest: server offers no resource binding: %s", features.Raw)
	}

	c.w.b = c.w.b[:0]
	c.w.raw("<iq type='set' id='bind'><bind xmlns='" + nsBind + "'>")
	if cfg.Resource != "" {
		c.w.raw("<resource>")
		c.w.text(cfg.Resource)
		c.w.raw("</resource>")
	}
	c.w.raw("</bind></iq>")
	if err := c.write(c.w.b); err != nil {
		return err
	}
	var bound struct {
		JID string `xml:"bind>jid"`
	}
	if err := c.readIQResult("bind", &bound); err != nil {
		return fmt.Errorf("xmpptest: bind resource %q: %w", cfg.Resource, err)
	}
	if bound.JID == "" {
		return errors.New("xmpptest: bind result without a JID")
	}
	c.jid = bound.JID

	// RFC 3921 sessions: only when offered and not marked optional
	// (Prosody marks it optional).
	if f.Session != nil && f.Session.Optional == nil {
		if err := c.SendRaw("<iq type='set' id='session'><session xmlns='" + nsSession + "'/></iq>"); err != nil {
			return err
		}
		if err := c.readIQResult("session", nil); err != nil {
			return fmt.Errorf("xmpptest: session: %w", err)
		}
	}

	if cfg.NoPresence {
		return nil
	}
	pres := "<presence/>"
	if cfg.Priority != 0 {
		pres = "<presence><priority>" + strconv.Itoa(cfg.Priority) + "</priority></presence>"
	}
	if err := c.SendRaw(pres); err != nil {
		return err
	}
	// RFC 6121 4.2.2: the server sends our initial presence back to us.
	// Waiting for it means the server has made the session available, so
	// a message to the bare JID sent after Dial returns is delivered, not
	// bounced. Whatever arrives before it is delivered first.
	for {
		var st Stanza
		if err := c.readNegotiation(&st); err != nil {
			return fmt.Errorf("xmpptest: waiting for our initial presence: %w", err)
		}
		c.early = append(c.early, st)
		if st.Name == "presence" && st.Type == "" && st.From == c.jid {
			return nil
		}
	}
}

// openStream sends a stream header, reads the server's and returns the
// element after it (the features, for a client stream).
func (c *Client) openStream(to, ns string) (Stanza, error) {
	c.w.b = c.w.b[:0]
	c.w.raw("<?xml version='1.0'?><stream:stream xmlns='" + ns + "' xmlns:stream='" + NSStream + "'")
	c.w.attr("to", to)
	if ns == NSClient {
		c.w.raw(" version='1.0'")
	}
	c.w.raw(">")
	if err := c.write(c.w.b); err != nil {
		return Stanza{}, err
	}
	if _, err := c.readHeader(); err != nil {
		return Stanza{}, err
	}
	var st Stanza
	err := c.readNegotiation(&st)
	return st, err
}

// readHeader reads up to and including the server's <stream:stream> and
// returns its id.
func (c *Client) readHeader() (string, error) {
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return "", fmt.Errorf("xmpptest: reading stream header: %w", err)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if el.Name.Space != NSStream || el.Name.Local != "stream" {
			return "", fmt.Errorf("xmpptest: expected a stream header, got <%s xmlns='%s'>", el.Name.Local, el.Name.Space)
		}
		c.rec.drop(c.dec.InputOffset())
		for _, a := range el.Attr {
			if a.Name.Space == "" && a.Name.Local == "id" {
				return a.Value, nil
			}
		}
		return "", nil
	}
}

// readNegotiation reads one element during login, turning a stream error
// into an error.
func (c *Client) readNegotiation(st *Stanza) error {
	if err := c.readElement(st); err != nil {
		return err
	}
	if st.space == NSStream && st.Name == "error" {
		return c.streamError(*st)
	}
	return nil
}

// readIQResult reads until the iq with the given id and decodes a result
// into v (if not nil).
func (c *Client) readIQResult(id string, v any) error {
	for {
		var st Stanza
		if err := c.readNegotiation(&st); err != nil {
			return err
		}
		if st.Name != "iq" || st.ID != id {
			continue
		}
		if st.Type != "result" {
			return fmt.Errorf("%s: %s", st.ErrorCondition(), st.Raw)
		}
		if v != nil {
			return st.Decode(v)
		}
		return nil
	}
}

func (c *Client) streamError(st Stanza) *StreamError {
	var e struct {
		Text string `xml:"text"`
	}
	_ = st.Decode(&e) // best effort: the condition is what matters
	return &StreamError{Condition: st.firstChild.Local, Text: e.Text, Raw: st.Raw}
}

type streamFeatures struct {
	Mechanisms []string  `xml:"mechanisms>mechanism"`
	Bind       *struct{} `xml:"bind"`
	Session    *struct {
		Optional *struct{} `xml:"optional"`
	} `xml:"session"`
}

func (f *streamFeatures) hasMechanism(name string) bool {
	for _, m := range f.Mechanisms {
		if strings.EqualFold(strings.TrimSpace(m), name) {
			return true
		}
	}
	return false
}

// readElement reads the next top-level element of the stream into st,
// recording its raw bytes. It returns ErrStreamClosed at </stream:stream>.
func (c *Client) readElement(st *Stanza) error {
	*st = Stanza{}
	dec := c.dec
	start := dec.InputOffset()
	var el xml.StartElement
	for el.Name.Local == "" {
		tok, err := dec.Token()
		if err != nil {
			return readError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			el = t
		case xml.EndElement:
			return ErrStreamClosed
		default:
			// Whitespace keepalives between stanzas.
			start = dec.InputOffset()
			c.rec.drop(start)
		}
	}
	c.p.start(st, el)
	st.space = el.Name.Space
	depth, capture, captureDepth, inError := 1, capNone, 0, false
	for depth > 0 {
		tok, err := dec.Token()
		if err != nil {
			return readError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				inError = t.Name.Local == "error" && !st.hasError
			}
			if capture == capNone {
				if capture = c.p.child(st, t, depth, inError); capture != capNone {
					captureDepth = depth
				}
			}
		case xml.EndElement:
			if capture != capNone && depth == captureDepth {
				c.p.finishText(st, capture)
				capture = capNone
			}
			if depth == 2 {
				inError = false
			}
			depth--
		case xml.CharData:
			if capture != capNone && depth == captureDepth {
				c.p.text = append(c.p.text, t...)
			}
		}
	}
	end := dec.InputOffset()
	st.Raw = bytes.Clone(bytes.TrimLeft(c.rec.slice(start, end), " \t\r\n"))
	c.rec.drop(end)
	return nil
}

func readError(err error) error {
	var syn *xml.SyntaxError
	if errors.Is(err, io.EOF) || errors.As(err, &syn) && syn.Msg == "unexpected EOF" {
		// encoding/xml reports EOF inside the stream element as a syntax
		// error; the server vanished (Prosody closes component sockets so
		// on shutdown, and any socket when killed).
		return fmt.Errorf("xmpptest: connection closed without a stream close: %w", io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("xmpptest: read: %w", err)
}

func (c *Client) readLoop() {
	defer close(c.done)
	defer close(c.ch)
	for _, st := range c.early {
		c.deliver(st)
	}
	c.early = nil
	for {
		var st Stanza
		if err := c.readElement(&st); err != nil {
			select {
			case <-c.closing:
				err = ErrClosed
			default:
				if errors.Is(err, ErrStreamClosed) {
					// RFC 6120 4.4: answer the server's close with ours,
					// so it need not wait for a timeout (Prosody's
					// shutdown waits up to 1 s for open sockets).
					_ = c.SendRaw("</stream:stream>")
				}
			}
			c.setErr(err)
			_ = c.conn.Close()
			return
		}
		if st.space == NSStream && st.Name == "error" {
			c.setErr(c.streamError(st))
			continue // the server closes the stream next
		}
		c.deliver(st)
	}
}

func (c *Client) deliver(st Stanza) {
	if h := c.handler.Load(); h != nil {
		c.inHandler.Store(true)
		(*h)(c, st)
		c.inHandler.Store(false)
		return
	}
	select {
	case c.ch <- st:
	case <-c.closing:
	}
}

func (c *Client) setErr(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
}

// Handle sets the function that receives incoming stanzas from now on; nil
// sends them to Stanzas again. Stanzas queued before stay in Stanzas.
func (c *Client) Handle(h Handler) {
	if h == nil {
		c.handler.Store(nil)
		return
	}
	c.handler.Store(&h)
}

// Stanzas delivers incoming stanzas while no handler is set. It is closed
// when the stream ends; Err then says why. If nobody reads it, reading from
// the server stops once 1024 stanzas wait.
func (c *Client) Stanzas() <-chan Stanza { return c.ch }

// Next waits for the next stanza on Stanzas.
func (c *Client) Next(ctx context.Context) (Stanza, error) {
	select {
	case st, ok := <-c.ch:
		if !ok {
			return Stanza{}, c.Err()
		}
		return st, nil
	case <-ctx.Done():
		return Stanza{}, fmt.Errorf("xmpptest: waiting for a stanza: %w", ctx.Err())
	}
}

// NextMatch waits for the next stanza on Stanzas for which match is true,
// dropping the others (such as presence broadcasts).
func (c *Client) NextMatch(ctx context.Context, match func(Stanza) bool) (Stanza, error) {
	for {
		st, err := c.Next(ctx)
		if err != nil || match(st) {
			return st, err
		}
	}
}

// Done is closed when the stream has ended, whoever ended it.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the stream ended: ErrStreamClosed, a *StreamError, a read
// error (EOF when the server vanished), or ErrClosed. It is nil while the
// stream is up.
func (c *Client) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// JID is the full JID the server bound (for a component, its domain).
func (c *Client) JID() string { return c.jid }

// Bare is JID without the resource.
func (c *Client) Bare() string {
	bare, _, _ := strings.Cut(c.jid, "/")
	return bare
}

// NewID returns a stanza id unique to this client.
func (c *Client) NewID() string {
	return c.idPrefix + strconv.FormatUint(c.ids.Add(1), 36)
}

// Close ends the stream with </stream:stream>, waits (up to 2 s) for the
// server to close its side, so that the server has processed everything sent
// before (the session is gone when Close returns), and closes the
// connection. Called from a handler, it does not wait.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closing)
		select {
		case <-c.done:
			// The stream has ended already (and the reader closed the
			// connection): nothing to say goodbye to.
			return
		default:
		}
		err = c.SendRaw("</stream:stream>")
		if err == nil && !c.inHandler.Load() {
			t := time.NewTimer(closeWait)
			select {
			case <-c.done:
			case <-t.C:
			}
			t.Stop()
		}
		if cerr := c.conn.Close(); cerr != nil && err == nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("xmpptest: close: %w", cerr)
		}
	})
	return err
}

// SendRaw writes raw to the stream as it is. Writes are serialised, so a
// stanza is never interleaved with another.
func (c *Client) SendRaw(raw string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.w.b = append(c.w.b[:0], raw...)
	return c.write(c.w.b)
}

// write sends b; the caller holds wmu (or is still negotiating).
func (c *Client) write(b []byte) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("xmpptest: write: %w", err)
	}
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("xmpptest: write: %w", err)
	}
	return nil
}

// recorder is the decoder's byte source. It keeps every byte read since the
// start of the current element, so the element's raw XML can be sliced out
// by the decoder's InputOffset. xml.Decoder reads an io.ByteReader one byte
// at a time and never reads ahead more than the byte it puts back (after
// character data), so offsets map one to one onto buf.
type recorder struct {
	br   *bufio.Reader
	buf  []byte
	base int64 // decoder offset of buf[0]
}

func (r *recorder) ReadByte() (byte, error) {
	b, err := r.br.ReadByte()
	if err == nil {
		r.buf = append(r.buf, b)
	}
	return b, err
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.br.Read(p)
	r.buf = append(r.buf, p[:n]...)
	return n, err
}

func (r *recorder) slice(from, to int64) []byte { return r.buf[from-r.base : to-r.base] }

// drop forgets the bytes before decoder offset off.
func (r *recorder) drop(off int64) {
	n := int(off - r.base)
	r.buf = r.buf[:copy(r.buf, r.buf[n:])]
	r.base = off
}

// reset starts over for a new decoder (offset 0), after a stream restart.
func (r *recorder) reset() {
	r.buf = r.buf[:0]
	r.base = 0
}
