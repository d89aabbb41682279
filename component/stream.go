package component

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	nsComponent = "jabber:component:accept"
	nsStream    = "http://etherx.jabber.org/streams"
	nsStanzas   = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsStreams   = "urn:ietf:params:xml:ns:xmpp-streams"

	// maxStanzaBytes bounds one incoming stanza; a larger one ends the
	// stream (servers limit stanzas to far less: Prosody 256 KiB for c2s).
	maxStanzaBytes = 1 << 20
	// readAhead is the read buffer: bytes the decoder may hold beyond the
	// stanza being decoded, allowed on top of maxStanzaBytes.
	readAhead = 16 << 10
)

// errStreamClosed reports a server-side </stream:stream>.
var errStreamClosed = errors.New("component: the server closed the stream")

// StreamError is a <stream:error/> sent by the server.
type StreamError struct {
	Condition string
	Text      string
}

func (e *StreamError) Error() string {
	if e.Text != "" {
		return fmt.Sprintf("stream error %s (%s)", e.Condition, e.Text)
	}
	return "stream error " + e.Condition
}

// HandshakeError reports a refused XEP-0114 handshake: a wrong secret, or a
// domain the server does not know.
type HandshakeError struct {
	Domain, Server string
	Err            error
}

func (e *HandshakeError) Error() string {
	hint := "check the component secret and domain in the server's configuration"
	var se *StreamError
	if errors.As(e.Err, &se) {
		switch se.Condition {
		case "conflict":
			hint = "another connection for this component domain is still open: is a second gateway running?"
		case "host-unknown", "improper-addressing":
			hint = "the server does not know this component domain: check xmpp_jid and the server's configuration"
		}
	}
	return fmt.Sprintf("component: handshake for %s refused by %s: %v (%s)", e.Domain, e.Server, e.Err, hint)
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// stream is one XMPP stream: a XEP-0114 component stream (dialComponent)
// or a client stream logged in as an account (dialClient, client.go). send
// is safe for concurrent use; next is called by one reader goroutine only.
type stream struct {
	conn         net.Conn // the TLS connection once STARTTLS is done
	br           *bufio.Reader
	dec          *xml.Decoder
	lim          *limitReader
	writeTimeout time.Duration
	debug        *slog.Logger // nil unless stanzas are logged
	// self is our own address on this stream: the component's domain, or
	// in client mode the full JID the server bound.
	self string

	reads atomic.Uint64 // stanzas read: liveness besides the pongs

	// A stanza sent while no write is under way is written at once by its
	// sender. One sent during a write is queued, and a writer goroutine
	// (writeLoop) writes everything queued in one write(2) when that write
	// is done: under load the server reads several stanzas at a time, and
	// no sender waits on another's write; alone, a stanza costs no
	// hand-off.
	qmu     sync.Mutex
	queue   []byte        // stanzas not yet written; guarded by qmu
	lost    []func(error) // told if the queued stanzas are lost; guarded by qmu
	busy    bool          // a write is under way (a sender's or the writer's); guarded by qmu
	broken  bool          // a write failed; guarded by qmu
	kick    chan struct{} // the writer has work (capacity 1)
	writing sync.Once     // starts writeLoop

	wmu       sync.Mutex // serialises the socket's writes: the writer's and close's
	closeOnce sync.Once
	done      chan struct{} // closed by close
}

const (
	// maxQueued bounds the stanzas waiting for the writer: a server that
	// stops reading makes new sends fail (523) instead of piling up.
	maxQueued = 1 << 20
	// keepQueueBuffer is the largest write buffer kept for the next batch.
	keepQueueBuffer = 64 << 10
)

// errBacklog is a send refused because the server is not reading.
var errBacklog = errors.New("component: the XMPP server is not reading what the gateway sends (1 MiB queued)")

// dialComponent connects to the server, opens a component stream for
// o.Domain and authenticates with o.Secret. The handshake digest is never
// logged.
func dialComponent(ctx context.Context, o *Options) (*stream, error) {
	return dial(ctx, o, func(s *stream) error {
		if err := s.handshake(o.Domain, o.Secret); err != nil {
			var se *StreamError
			if errors.As(err, &se) {
				return &HandshakeError{Domain: o.Domain, Server: o.Address, Err: err}
			}
			return fmt.Errorf("component: handshake with %s for %s: %w", o.Address, o.Domain, err)
		}
		s.self = o.Domain
		return nil
	})
}

// dial connects to o.Address and runs negotiate (the component handshake
// or the client login) on the new stream under one deadline, so a silent
// server cannot hold it. Stanzas are logged (o.Debug) only after it, so
// neither the secret nor anything derived from it reaches the log.
func dial(ctx context.Context, o *Options, negotiate func(*stream) error) (*stream, error) {
	d := net.Dialer{Timeout: o.DialTimeout, KeepAlive: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", o.Address)
	if err != nil {
		return nil, fmt.Errorf("component: connecting to %s: %w", o.Address, err)
	}
	s := newStream(conn, o)
	_ = conn.SetDeadline(time.Now().Add(o.DialTimeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if err := negotiate(s); err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = s.conn.SetDeadline(time.Time{})
	if o.Debug {
		s.debug = o.Logger
		s.lim.debug = o.Logger
	}
	return s, nil
}

func newStream(conn net.Conn, o *Options) *stream {
	lim := &limitReader{r: conn, n: maxStanzaBytes}
	br := bufio.NewReaderSize(lim, readAhead)
	return &stream{conn: conn, br: br, dec: newDecoder(br), lim: lim, writeTimeout: o.WriteTimeout,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// newDecoder reads XML from br. br is an io.ByteReader, so the decoder
// buffers nothing of its own: a new decoder on the same br (a stream
// restart) starts exactly where the old one stopped.
func newDecoder(br *bufio.Reader) *xml.Decoder {
	dec := xml.NewDecoder(br)
	dec.Strict = true
	return dec
}

func (s *stream) handshake(domain, secret string) error {
	open := []byte(xml.Header[:len(xml.Header)-1] + "<stream:stream xmlns='" + nsComponent +
		"' xmlns:stream='" + nsStream + "' to='")
	var esc []byte
	esc = appendEscaped(esc, domain)
	open = append(append(open, esc...), "'>"...)
	if _, err := s.conn.Write(open); err != nil {
		return err
	}
	id, err := s.readHeader()
	if err != nil {
		return err
	}
	sum := sha1.Sum([]byte(id + secret))
	digest := hex.EncodeToString(sum[:])
	if _, err := s.conn.Write([]byte("<handshake>" + digest + "</handshake>")); err != nil {
		return err
	}
	for {
		tok, err := s.dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "handshake" {
				return s.dec.Skip()
			}
			if t.Name.Space == nsStream && t.Name.Local == "error" {
				return decodeStreamError(s.dec, &t)
			}
			return fmt.Errorf("expected <handshake/>, got <%s>", t.Name.Local)
		case xml.EndElement:
			return errStreamClosed
		}
	}
}

// readHeader reads the server's stream header and returns its id.
func (s *stream) readHeader() (string, error) {
	for {
		tok, err := s.dec.Token()
		if err != nil {
			return "", err
		}
		t, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if t.Name.Space == nsStream && t.Name.Local == "error" {
			return "", decodeStreamError(s.dec, &t)
		}
		if t.Name.Space != nsStream || t.Name.Local != "stream" {
			return "", fmt.Errorf("expected a stream header, got <%s>", t.Name.Local)
		}
		for _, a := range t.Attr {
			if a.Name.Local == "id" && a.Name.Space == "" {
				if a.Value == "" {
					break
				}
				return a.Value, nil
			}
		}
		return "", errors.New("the stream header has no id")
	}
}

func decodeStreamError(d *xml.Decoder, start *xml.StartElement) error {
	var e struct {
		Kids []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := d.DecodeElement(&e, start); err != nil {
		return err
	}
	se := &StreamError{Condition: "undefined-condition"}
	for _, k := range e.Kids {
		if k.XMLName.Local == "text" {
			se.Text = k.Text
		} else if se.Condition == "undefined-condition" || k.XMLName.Space == nsStreams {
			se.Condition = k.XMLName.Local
		}
	}
	return se
}

// nextStart reads up to the next top-level start element: a stream error
// and a server-side close are returned as errors. Both modes' negotiation
// and the stanza reader use it.
func (s *stream) nextStart() (xml.StartElement, error) {
	s.lim.n = maxStanzaBytes + readAhead
	for {
		tok, err := s.dec.Token()
		if err != nil {
			// encoding/xml reports a connection closed inside the stream
			// element as a syntax error ("unexpected EOF"), not io.EOF.
			var se *xml.SyntaxError
			if errors.Is(err, io.EOF) || errors.As(err, &se) && se.Msg == "unexpected EOF" {
				return xml.StartElement{}, fmt.Errorf("component: the server closed the connection: %w", err)
			}
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space == nsStream && t.Name.Local == "error" {
				return xml.StartElement{}, decodeStreamError(s.dec, &t)
			}
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, errStreamClosed
		}
	}
}

// next reads the next stanza. It returns errStreamClosed on a server-side
// stream close, a *StreamError on a stream error, or the read error.
func (s *stream) next() (*inStanza, error) {
	t, err := s.nextStart()
	if err != nil {
		return nil, err
	}
	in := new(inStanza)
	if err := in.decode(s.dec, &t); err != nil {
		return nil, err
	}
	s.reads.Add(1)
	return in, nil
}

// send writes one serialised stanza, or queues it while another write is
// under way: it never waits for another sender's write, so neither a
// caller nor the reader (replying to a ping or a disco query) is held by a
// slow server beyond its own write. It fails at once when the stream is
// closed, a write has failed, or 1 MiB is already waiting.
//
// A failed write may have sent part of a batch, and anything written after
// it would reach the server as garbage: the first failure closes the
// socket (the reader then ends and the gateway reconnects), and every
// later send fails at once.
func (s *stream) send(b []byte) error { return s.sendOr(b, nil) }

// sendOr is send, and lost (when not nil) is called if the stanza was
// queued and is lost after sendOr returned: its batch failed to be
// written, or the stream closed before it was. It is called, with no lock
// held, on the goroutine whose write failed (the writer's, or another
// sender's): it must not block.
func (s *stream) sendOr(b []byte, lost func(error)) error {
	s.qmu.Lock()
	switch {
	case s.broken:
		s.qmu.Unlock()
		return net.ErrClosed
	case len(s.queue)+len(b) > maxQueued:
		s.qmu.Unlock()
		return errBacklog
	}
	select {
	case <-s.done:
		s.qmu.Unlock()
		return net.ErrClosed
	default:
	}
	if s.debug != nil {
		s.debug.Info("xmpp send", "xml", string(b))
	}
	if s.busy || len(s.queue) > 0 { // first come, first written
		s.queue = append(s.queue, b...)
		if lost != nil {
			s.lost = append(s.lost, lost)
		}
		s.qmu.Unlock()
		s.writing.Do(func() { go s.writeLoop() })
		select {
		case s.kick <- struct{}{}: // in case the write under way already ended
		default:
		}
		return nil
	}
	s.busy = true
	s.qmu.Unlock()
	err := s.writeBatch(b)
	s.idle(err)
	return err
}

// idle ends a write: on an error the stream is broken (and closed, and
// what was queued is lost); else the writer is told if stanzas were
// queued meanwhile.
func (s *stream) idle(err error) {
	s.qmu.Lock()
	s.busy = false
	if err != nil {
		s.broken = true
		lost := s.lost
		s.queue, s.lost = nil, nil
		s.qmu.Unlock()
		_ = s.conn.Close()
		for _, f := range lost {
			f(err)
		}
		return
	}
	queued := len(s.queue) > 0
	s.qmu.Unlock()
	if queued {
		s.writing.Do(func() { go s.writeLoop() })
		select {
		case s.kick <- struct{}{}:
		default: // already kicked
		}
	}
}

// writeLoop writes what was queued during a write, everything at once,
// each batch bounded by the write timeout, until the stream is closed or a
// write fails; then it tells the senders of what was not written.
func (s *stream) writeLoop() {
	var spare []byte
	var spareLost []func(error)
	for {
		select {
		case <-s.kick:
		case <-s.done:
			s.idle(net.ErrClosed) // drops and reports what is queued
			return
		}
		s.qmu.Lock()
		if s.busy || len(s.queue) == 0 || s.broken {
			// A sender is writing (it kicks again when done), or the
			// queue went with a failure.
			s.qmu.Unlock()
			continue
		}
		buf, lost := s.queue, s.lost
		s.queue, s.lost = spare[:0], spareLost[:0]
		s.busy = true
		s.qmu.Unlock()
		err := s.writeBatch(buf)
		if err != nil {
			s.qmu.Lock()
			s.lost = append(lost, s.lost...)
			s.qmu.Unlock()
			s.idle(err)
			return
		}
		s.idle(nil)
		clear(lost)
		spare, spareLost = nil, lost[:0]
		if cap(buf) <= keepQueueBuffer {
			spare = buf
		}
	}
}

// writeBatch writes one batch under the socket's write lock.
func (s *stream) writeBatch(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	select {
	case <-s.done:
		return net.ErrClosed
	default:
	}
	if s.writeTimeout > 0 {
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	}
	_, err := s.conn.Write(b)
	return err
}

// close ends the stream politely (</stream:stream>) and closes the socket.
// Stanzas still queued are dropped. It is safe to call more than once and
// concurrently with send, the writer and next.
func (s *stream) close() {
	s.closeOnce.Do(func() {
		s.wmu.Lock()
		s.qmu.Lock()
		broken := s.broken
		s.qmu.Unlock()
		if !broken {
			_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = s.conn.Write([]byte("</stream:stream>"))
		}
		close(s.done)
		s.wmu.Unlock()
		_ = s.conn.Close()
	})
}

// limitReader fails a read once more than n bytes were read since the
// last reset, bounding the memory a hostile stanza can take. With debug
// set it logs what it reads (after the handshake only).
type limitReader struct {
	r     io.Reader
	n     int64
	debug *slog.Logger
}

var errStanzaTooLarge = errors.New("component: an incoming stanza is larger than 1 MiB")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errStanzaTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if n > 0 && l.debug != nil {
		l.debug.Info("xmpp recv", "xml", string(p[:n]))
	}
	return n, err
}

// appendEscaped appends s escaped by encoding/xml for character data or an
// attribute value in either quotes: the five special characters, tab,
// newline and carriage return as references, and what is not an XML
// character as U+FFFD. A string of printable ASCII without the five is
// what EscapeText would write unchanged, and is appended as it is
// (FuzzConfirmStanzas compares the result with xml.Marshal's).
func appendEscaped(b []byte, s string) []byte {
	if plain(s) {
		return append(b, s...)
	}
	w := &byteWriter{b: b}
	_ = xml.EscapeText(w, []byte(s))
	return w.b
}

// plain reports whether EscapeText leaves s as it is: printable ASCII
// without & < > ' ".
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '&', c == '<', c == '>', c == '\'', c == '"':
			return false
		}
	}
	return true
}

type byteWriter struct{ b []byte }

func (w *byteWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
