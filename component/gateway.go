package component

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// Texts renders the human-readable bodies of a confirm message, one per
// language, the default language first.
type Texts interface {
	Bodies(url, method, code string) []auth.Text
}

// EscapedTexts is a Texts that can also return its bodies already escaped
// for XML character data by encoding/xml's EscapeText (i18n.Catalog does,
// escaping its fixed text once instead of for every message). The
// gateway uses it when Options.Texts has it.
type EscapedTexts interface {
	Texts
	EscapedBodies(url, method, code string) []auth.Text
}

// Options configure a Gateway. Zero durations take the defaults noted.
type Options struct {
	Domain  string // the component's domain, e.g. auth.example.org
	Secret  string // the XEP-0114 shared secret
	Address string // the server's component port, host:port
	Name    string // shown in disco#info and version; default "HTTP authentication"
	Version string // XEP-0092 version; default "dev"

	// Account selects client mode: the gateway logs in over c2s as this
	// ordinary account (user@domain or user@domain/resource), with Secret
	// as its password, instead of as the component Domain (client.go).
	// Domain is then the account's domain, and Address the server's
	// client port.
	Account string
	// InsecureSkipVerify accepts any certificate from the server in client
	// mode (xmpp_verify_cert_validity=false). Never the default.
	InsecureSkipVerify bool
	// RootCAs verifies the server's certificate in client mode; nil means
	// the system's roots.
	RootCAs *x509.CertPool

	Texts  Texts
	Logger *slog.Logger
	Debug  bool // log every stanza (never the handshake)

	PingInterval time.Duration // between XEP-0199 pings; default 15 s
	PingTimeout  time.Duration // for a pong; default min(PingInterval, 10 s)
	PingTo       string        // ping target; default the parent domain of Domain (client mode: the account's domain)
	DialTimeout  time.Duration // TCP connect plus handshake; default 10 s
	WriteTimeout time.Duration // one stanza write; default 10 s
	BackoffMin   time.Duration // first reconnect delay; default 500 ms
	BackoffMax   time.Duration // reconnect delay cap; default 30 s

	Clock Clock     // default the real clock
	Rand  io.Reader // stanza ids and jitter; default crypto/rand
}

func (o *Options) setDefaults() {
	if o.Name == "" {
		o.Name = "HTTP authentication"
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 15 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = min(o.PingInterval, 10*time.Second)
	}
	if o.Account != "" {
		// An account that does not parse is reported by dialClient.
		if a, err := auth.ParseJID(o.Account); err == nil && a.Local != "" {
			o.Account, o.Domain = a.String(), a.Domain
			if o.PingTo == "" {
				o.PingTo = a.Domain // the server hosting the account
			}
		}
	}
	if d, err := auth.ParseJID(o.Domain); err == nil {
		o.Domain = d.String()
	}
	if o.PingTo == "" {
		// The server hosting auth.example.org serves example.org.
		o.PingTo = o.Domain
		if _, parent, ok := strings.Cut(o.Domain, "."); ok && parent != "" {
			o.PingTo = parent
		}
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 500 * time.Millisecond
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(30*time.Second, o.BackoffMin)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
}

// Gateway is the XEP-0070 component. Confirm, Ready and Shutdown are safe
// for concurrent use; Run is called once.
type Gateway struct {
	opts Options
	log  *slog.Logger
	// from is the from attribute of what we send: the component's domain,
	// or "" in client mode, where the server stamps the full JID it bound
	// (RFC 6120 8.1.2.1) and a from of our own could only be wrong (see
	// client.go).
	from   string
	txns   *table
	cur    atomic.Pointer[stream] // the live stream, nil while disconnected
	pongs  sync.Map               // ping stanza id -> chan struct{}
	closed chan struct{}          // closed when Shutdown starts: refuse new requests
	once   sync.Once

	// reconnects counts the streams lost while running (Stats).
	reconnects atomic.Uint64
}

// New returns a Gateway; call Run to connect.
func New(opts Options) *Gateway {
	opts.setDefaults()
	from := opts.Domain
	if opts.Account != "" {
		from = ""
	}
	g := &Gateway{
		opts:   opts,
		log:    opts.Logger.With("component", "xmpp"),
		from:   from,
		txns:   newTable(),
		closed: make(chan struct{}),
	}
	g.txns.onFallback = g.sendFallback
	return g
}

// Ready reports nil while the gateway has a live stream to its server,
// else an error wrapping auth.ErrNotConnected or auth.ErrShuttingDown.
func (g *Gateway) Ready() error {
	select {
	case <-g.closed:
		return fmt.Errorf("component: %w", auth.ErrShuttingDown)
	default:
	}
	if g.cur.Load() == nil {
		return fmt.Errorf("component: %w", auth.ErrNotConnected)
	}
	return nil
}

// Pending returns the number of requests waiting for an answer.
func (g *Gateway) Pending() int { return g.txns.len() }

// Stats reports, for metrics, whether a stream to the server is up and how
// many times a stream was lost and the gateway set out to reconnect. It is
// safe for concurrent use.
func (g *Gateway) Stats() (connected bool, reconnects uint64) {
	return g.cur.Load() != nil, g.reconnects.Load()
}

// Confirm asks req.JID to confirm req and waits for the answer, the
// timeout, the caller's cancellation or the end of the shutdown grace. It
// returns the delivery path (with every outcome once the request was sent,
// for the audit log and metrics) and, unless approved, an error wrapping
// one of auth's sentinel errors. It is safe for concurrent use.
func (g *Gateway) Confirm(ctx context.Context, req auth.Request) (auth.Decision, error) {
	p, err := g.ask(req)
	if err != nil {
		return auth.Decision{}, err
	}
	select {
	case <-p.x.done:
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			g.txns.end(p.x, errTimeout)
		} else {
			p.Cancel()
		}
	}
	return p.Result()
}

// Ask sends req and returns at once; the answer comes through the returned
// Pending. Nothing waits on a goroutine meanwhile: the deadline is a
// timer, and an answer is handed over by the reader, so a caller can park
// many requests cheaply (httpapi does, past its first moments). Errors are
// those of Confirm for a request that could not be sent. It is safe for
// concurrent use.
func (g *Gateway) Ask(req auth.Request) (auth.Pending, error) {
	p, err := g.ask(req)
	if err != nil {
		return nil, err
	}
	return p, nil
}

var (
	errTimeout      = fmt.Errorf("component: %w", auth.ErrTimeout)
	errCanceled     = fmt.Errorf("component: %w", auth.ErrCanceled)
	errShuttingDown = fmt.Errorf("component: %w", auth.ErrShuttingDown)
	errDenied       = fmt.Errorf("component: %w", auth.ErrDenied)
)

func (g *Gateway) ask(req auth.Request) (*Pending, error) {
	if err := g.Ready(); err != nil {
		return nil, err
	}
	bare := req.JID.Bare()
	x, ok := g.txns.add(req.TransactionID, bare)
	if !ok {
		return nil, fmt.Errorf("component: %s for %s: %w", req.TransactionID, bare, auth.ErrConflict)
	}
	x.req = req
	// Shutdown may have begun after the check above; a request added after
	// Shutdown looked at the table is a new one, and refused.
	select {
	case <-g.closed:
		g.txns.remove(x)
		return nil, errShuttingDown
	default:
	}
	g.txns.setTimer(x, g.opts.Clock.AfterFunc(req.Timeout, func() { g.txns.end(x, errTimeout) }))

	var err error
	if req.JID.IsFull() {
		err = g.askIQ(x, &x.req)
	} else {
		err = g.askMessage(x, &x.req)
	}
	if err != nil {
		g.txns.remove(x)
		return nil, err
	}
	return &Pending{g: g, x: x}, nil
}

// sendFallback sends the message form of x after its iq was refused,
// within the same deadline (table.onFallback).
func (g *Gateway) sendFallback(x *txn) {
	g.log.Debug("iq refused, asking by message", "jid", x.req.JID.String(), "txn", x.req.TransactionID)
	if err := g.askMessage(x, &x.req); err != nil {
		g.txns.end(x, err)
	}
}

// Pending is a request that was sent and waits for its answer (Ask). Its
// methods are safe for concurrent use.
type Pending struct {
	g *Gateway
	x *txn
}

// Done is closed once the request has ended: answered, timed out,
// cancelled or ended by the shutdown.
func (p *Pending) Done() <-chan struct{} { return p.x.done }

// Notify calls f once the request has ended, at once if it has. f runs
// on the goroutine that ended it (the XMPP reader, a timer): it must not
// block.
func (p *Pending) Notify(f func()) { p.g.txns.setNotify(p.x, f) }

// Cancel ends the request as cancelled by the caller, unless it has ended.
func (p *Pending) Cancel() { p.g.txns.end(p.x, errCanceled) }

// Result returns what Confirm returns. It is meant for after Done: while
// the request is pending it returns an unexpected error (520).
func (p *Pending) Result() (auth.Decision, error) {
	v, path, ok, end := p.g.txns.outcome(p.x)
	if !ok {
		return auth.Decision{Path: path}, errors.New("component: Result called while the request is pending")
	}
	if end != nil {
		return auth.Decision{Path: path}, end
	}
	return p.g.outcome(v, path, &p.x.req)
}

func (g *Gateway) outcome(v verdict, path auth.Path, req *auth.Request) (auth.Decision, error) {
	switch v {
	case vApprove:
		return auth.Decision{Path: path}, nil
	case vDeny:
		return auth.Decision{Path: path}, errDenied
	case vUnreachable:
		return auth.Decision{Path: path}, fmt.Errorf("component: %s: %w", req.JID.String(), auth.ErrUnreachable)
	case vServerError:
		return auth.Decision{Path: path}, fmt.Errorf("component: %s: %w", req.JID.String(), auth.ErrServer)
	}
	return auth.Decision{Path: path}, fmt.Errorf("component: unexpected verdict %d", v)
}

// askIQ sends the iq form to the full JID.
func (g *Gateway) askIQ(x *txn, req *auth.Request) error {
	sid := g.newID()
	to := req.JID.String()
	b, err := confirmIQ(g.from, to, sid, req)
	if err != nil {
		return fmt.Errorf("component: building the confirm iq: %w", err)
	}
	g.txns.bindIQ(x, sid, to)
	return g.send(x, b)
}

// askMessage sends the message form to the bare JID.
func (g *Gateway) askMessage(x *txn, req *auth.Request) error {
	sid := g.newID()
	var texts []auth.Text
	escaped := false
	if et, ok := g.opts.Texts.(EscapedTexts); ok {
		texts, escaped = et.EscapedBodies(req.URL, req.Method, req.TransactionID), true
	} else if g.opts.Texts != nil {
		texts = g.opts.Texts.Bodies(req.URL, req.Method, req.TransactionID)
	}
	b, err := confirmMessage(g.from, x.key.bare, sid, g.newID(), req, texts, escaped)
	if err != nil {
		return fmt.Errorf("component: building the confirm message: %w", err)
	}
	g.txns.bindMessage(x, sid)
	return g.send(x, b)
}

// send queues b, which asks x, on the live stream. A failed send is not
// retried: the caller gets auth.ErrNotConnected (523) at once, and so does
// x's caller when b is lost after send returned (its write failed, or the
// stream closed before it was written).
func (g *Gateway) send(x *txn, b []byte) error {
	s := g.cur.Load()
	if s == nil {
		return fmt.Errorf("component: %w", auth.ErrNotConnected)
	}
	err := s.sendOr(b, func(err error) {
		if g.txns.end(x, fmt.Errorf("component: sending: %v: %w", err, auth.ErrNotConnected)) {
			g.log.Debug("a request was lost with the stream", "jid", x.req.JID.String(), "txn", x.req.TransactionID)
		}
	})
	if err != nil {
		if !errors.Is(err, errBacklog) {
			// The reader notices and the connection loop reconnects. A
			// backlog is a write stalled under way: its write timeout
			// (or the pings) ends the stream without waiting on it here.
			s.close()
		}
		return fmt.Errorf("component: sending: %v: %w", err, auth.ErrNotConnected)
	}
	return nil
}

// newID returns an unguessable stanza id: 96 random bits.
func (g *Gateway) newID() string {
	var b [12]byte
	if _, err := io.ReadFull(g.opts.Rand, b[:]); err != nil {
		// crypto/rand does not fail on supported systems; an injected
		// reader that runs dry is a test bug.
		panic("component: reading random bytes: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Shutdown stops the gateway taking requests, waits for pending ones until
// ctx is done, then answers the rest with auth.ErrShuttingDown. It does
// not close the stream: cancel Run's context for that.
func (g *Gateway) Shutdown(ctx context.Context) {
	g.once.Do(func() { close(g.closed) })
	select {
	case <-g.txns.emptied():
	case <-ctx.Done():
	}
	g.txns.endAll(errShuttingDown)
}
