// Package httpapi serves the HTTP side of the XEP-0070 gateway (HTTP
// authentication confirmed over XMPP): GET and POST /auth validate their
// parameters, ask a Confirmer (the XMPP component) and answer with a status
// code that says what the person decided.
//
// It uses the standard library's net/http only. The Confirmer interface is
// declared here, by its user; the component satisfies it and main wires
// the two.
package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// Confirmer asks a person to approve a request (XEP-0070) and waits for the
// answer. Implementations must be safe for concurrent use.
type Confirmer interface {
	// Confirm asks and waits until the person answers, req.Timeout passes
	// or ctx is done (the HTTP caller hung up). Every error wraps exactly
	// one of the auth.Err* outcomes; any other error counts as unexpected.
	Confirm(ctx context.Context, req auth.Request) (auth.Decision, error)
	// Ready returns nil when requests can be sent, else an error wrapping
	// auth.ErrNotConnected or auth.ErrShuttingDown.
	Ready() error
}

// Options configure the handler returned by New.
type Options struct {
	// Confirmer asks the person. Required.
	Confirmer Confirmer
	// Logger receives one line per decision; nil discards.
	Logger *slog.Logger
	// DefaultTimeout applies when a request gives no timeout; zero means
	// 60 s, more than MaxTimeout means MaxTimeout.
	DefaultTimeout time.Duration
	// IDs is the randomness for generated transaction ids; nil means
	// crypto/rand.
	IDs io.Reader
	// MaxBodyBytes limits a POST body; zero or less means 64 KiB.
	MaxBodyBytes int64
	// APIKeys, when not empty, are the keys callers must send as
	// "Authorization: Bearer KEY" (else 403). Only their SHA-256 digests
	// are kept; they are never logged.
	APIKeys []string
	// Limiter enforces the abuse limits (429); nil means no limits.
	Limiter *Limiter
	// Metrics, when not nil, records every request and is served at
	// /metrics; nil records nothing and serves no /metrics.
	Metrics *Metrics
	// MetricsElsewhere leaves /metrics out of this handler: it is served
	// by MetricsHandler on its own listener (metrics_bind_address).
	MetricsElsewhere bool
	// Now is the clock of the decision latency (log and metrics); nil
	// means time.Now.
	Now func() time.Time
	// ParkAfter is how long a request waits on net/http before it is
	// parked (when the Confirmer is an Asker): zero means
	// DefaultParkAfter, a negative value never parks.
	ParkAfter time.Duration
}

// Limits and defaults of the API.
const (
	// MaxTimeout is the longest wait a caller can ask for; larger timeout
	// values are lowered to it.
	MaxTimeout = 300 * time.Second
	// DefaultTimeout is used when Options.DefaultTimeout is zero.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxBodyBytes is used when Options.MaxBodyBytes is zero.
	DefaultMaxBodyBytes = 64 << 10
)

// New returns the handler of the whole HTTP API (docs/openapi.yaml). It is
// safe for concurrent use. It panics if opts.Confirmer is nil (a wiring
// mistake).
//
//	GET  /auth          ask the person; parameters in the query string
//	POST /auth          the same; parameters in a form body and/or the query string
//	GET  /healthz       200 "ok" while the process runs
//	GET  /readyz        200 while the XMPP stream is up, else 503 and why
//	GET  /metrics       Prometheus text format (when Options.Metrics is set
//	                    and not MetricsElsewhere)
//	*    those paths    405 with Allow (HEAD is allowed where GET is, but on /auth)
//	     other          404
//
// Only /auth is logged and counted: probes and scrapes stay out of the
// decision log.
func New(opts Options) *Handler {
	s := newServer(opts)
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.path, s.allowMethods(rt))
	}
	mux.HandleFunc("/", s.handleNotFound)
	return &Handler{mux: mux, s: s}
}

// Handler is the HTTP API returned by New.
type Handler struct {
	mux *http.ServeMux
	s   *server
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// waitParked waits until every parked request has been answered, or ctx
// is done; it reports whether they all were.
func (h *Handler) waitParked(ctx context.Context) bool {
	select {
	case <-h.s.parked.idle():
		return true
	case <-ctx.Done():
		return false
	}
}

// counter counts parked requests; unlike a sync.WaitGroup, it may go up
// from zero while someone waits for zero.
type counter struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to zero; nil: nobody waits
}

func (c *counter) add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	if c.n == 0 && c.zero != nil {
		close(c.zero)
		c.zero = nil
	}
}

// idle returns a channel closed once the count is zero.
func (c *counter) idle() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.zero == nil {
		c.zero = make(chan struct{})
		if c.n == 0 {
			close(c.zero)
			ch := c.zero
			c.zero = nil
			return ch
		}
	}
	return c.zero
}

// route is one path of the API and the methods it serves.
type route struct {
	path    string
	methods []string
	handler http.Handler
}

// routes lists every path New serves; the OpenAPI test checks it against
// docs/openapi.yaml.
func (s *server) routes() []route {
	rs := []route{
		{"/auth", []string{http.MethodGet, http.MethodPost}, http.HandlerFunc(s.handleAuth)},
		{"/healthz", []string{http.MethodGet, http.MethodHead}, http.HandlerFunc(s.handleHealthz)},
		{"/readyz", []string{http.MethodGet, http.MethodHead}, http.HandlerFunc(s.handleReadyz)},
	}
	if s.metrics != nil && !s.metricsElsewhere {
		rs = append(rs, route{"/metrics", []string{http.MethodGet, http.MethodHead}, s.metrics.exposition()})
	}
	return rs
}

// allowMethods answers 405 with Allow to a method rt does not serve, and
// passes the others to its handler. A 405 from /auth carries a generated
// X-Transaction-Id, like every /auth answer.
func (s *server) allowMethods(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(rt.methods, r.Method) {
			txn := ""
			if rt.path == "/auth" {
				txn, _ = auth.NewTransactionID(s.ids)
			}
			write(w, r, statusOf(&methodError{allow: rt.methods}), txn, "")
			return
		}
		rt.handler.ServeHTTP(w, r)
	})
}

// server holds the handler's dependencies; it has no mutable state of its
// own (the Limiter's is behind its mutexes).
type server struct {
	confirmer        Confirmer
	logger           *slog.Logger
	defaultTimeout   time.Duration
	ids              io.Reader
	maxBody          int64
	keys             *apiKeys // nil: callers need no key
	limiter          *Limiter // nil: no limits
	metrics          *Metrics // nil: none recorded
	metricsElsewhere bool     // /metrics is served on another listener
	now              func() time.Time
	parkAfter        time.Duration // negative: never park
	parked           counter       // parked requests not yet answered
	waiting          atomic.Int64  // requests of an Asker waiting on net/http, not parked
	parkAtOnce       int64         // parkAtOnceAbove; tests lower it
}

func newServer(opts Options) *server {
	if opts.Confirmer == nil {
		panic("httpapi: Options.Confirmer is nil")
	}
	s := &server{
		confirmer:        opts.Confirmer,
		logger:           opts.Logger,
		defaultTimeout:   opts.DefaultTimeout,
		ids:              opts.IDs,
		maxBody:          opts.MaxBodyBytes,
		keys:             newAPIKeys(opts.APIKeys),
		limiter:          opts.Limiter,
		metrics:          opts.Metrics,
		metricsElsewhere: opts.MetricsElsewhere,
		now:              opts.Now,
		parkAfter:        opts.ParkAfter,
		parkAtOnce:       parkAtOnceAbove,
	}
	if s.parkAfter == 0 {
		s.parkAfter = DefaultParkAfter
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.logger = s.logger.With("component", "http")
	switch {
	case s.defaultTimeout <= 0:
		s.defaultTimeout = DefaultTimeout
	case s.defaultTimeout > MaxTimeout:
		s.defaultTimeout = MaxTimeout
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	return s
}
