package httpapi

import (
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The metric names, in the Prometheus text format served at /metrics.
const (
	MetricRequests        = "http_auth_requests_total"
	MetricRefused         = "http_auth_refused_total"
	MetricPending         = "http_auth_pending_requests"
	MetricDecisionSeconds = "http_auth_decision_duration_seconds"
	MetricXMPPConnected   = "http_auth_xmpp_connected"
	MetricXMPPReconnects  = "http_auth_xmpp_reconnects_total"
	MetricBuildInfo       = "http_auth_build_info"
)

// decisionBuckets are the upper bounds of the decision latency histogram,
// in seconds: from an automated answer (10 ms) to the longest timeout (300 s).
var decisionBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// pathNone is the path label of a request whose delivery path is unknown
// (a Confirmer that did not say).
const pathNone = "none"

// MetricsOptions configure NewMetrics.
type MetricsOptions struct {
	// Version is exported as the version label of http_auth_build_info.
	Version string
	// XMPP, when not nil, is read at every scrape: whether the stream to
	// the XMPP server is up, and how many times it was lost
	// (component.Gateway.Stats). Nil leaves the two XMPP metrics out.
	XMPP func() (connected bool, reconnects uint64)
	// Runtime adds the Go runtime and process collectors (go_*, process_*).
	Runtime bool
}

// Metrics are the gateway's Prometheus metrics, on a registry of their
// own (never the process-wide default one), so /metrics shows exactly
// these and tests can read them. A nil *Metrics records nothing. Safe for
// concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	refused  *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	pending  prometheus.Gauge
}

// NewMetrics returns the metrics, registered on a new registry.
//
//	http_auth_requests_total{outcome,path}          requests the person was asked about
//	http_auth_refused_total{reason,limit}           requests refused before anyone was asked
//	http_auth_pending_requests                      requests waiting for the person now
//	http_auth_decision_duration_seconds{outcome}    from the request to its answer
//	http_auth_xmpp_connected                        1 while the XMPP stream is up, else 0
//	http_auth_xmpp_reconnects_total                 XMPP streams lost (each followed by a reconnection)
//	http_auth_build_info{version}                   always 1
func NewMetrics(opts MetricsOptions) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRequests,
			Help: "Requests to /auth the person was asked about, by outcome (approved, denied, timeout, unreachable, error, canceled) and delivery path (iq, message, fallback; none when unknown).",
		}, []string{"outcome", "path"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRefused,
			Help: "Requests to /auth refused before the person was asked, by reason (invalid, too_large, forbidden, rate_limited, conflict, not_connected, shutting_down, error) and, for rate_limited, the limit's configuration key.",
		}, []string{"reason", "limit"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricDecisionSeconds,
			Help:    "Time from a request to /auth to its answer, for the requests the person was asked about, by outcome.",
			Buckets: slices.Clone(decisionBuckets),
		}, []string{"outcome"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricPending,
			Help: "Requests to /auth waiting for the person's answer.",
		}),
	}
	m.reg.MustRegister(m.requests, m.refused, m.latency, m.pending)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        MetricBuildInfo,
		Help:        "Always 1; the version label is the gateway's version.",
		ConstLabels: prometheus.Labels{"version": opts.Version},
	}, func() float64 { return 1 }))
	if stats := opts.XMPP; stats != nil {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: MetricXMPPConnected,
				Help: "1 while the stream to the XMPP server is up, else 0.",
			}, func() float64 {
				if up, _ := stats(); up {
					return 1
				}
				return 0
			}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: MetricXMPPReconnects,
				Help: "Streams to the XMPP server lost while running; each is followed by reconnection attempts.",
			}, func() float64 {
				_, n := stats()
				return float64(n)
			}),
		)
	}
	if opts.Runtime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	// The refusals every gateway can see start at 0, so a rate over them
	// is defined from the first scrape.
	for _, r := range []string{"invalid", "too_large", "forbidden", "conflict", "not_connected", "shutting_down"} {
		m.refused.WithLabelValues(r, "")
	}
	for _, l := range []string{LimitNamePendingPerJID, LimitNameRequestsPerJIDPerMinute, LimitNameRequestsPerCallerPerSecond, LimitNamePendingTotal} {
		m.refused.WithLabelValues("rate_limited", l)
	}
	return m
}

// Registry returns the registry the metrics are registered on, to add
// collectors or to read them in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// exposition serves the metrics in the Prometheus text format.
func (m *Metrics) exposition() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// MetricsHandler serves m at /metrics (GET and HEAD) and 404 elsewhere:
// the handler of the listener at metrics_bind_address.
func MetricsHandler(m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", (&server{}).allowMethods(route{"/metrics", []string{http.MethodGet, http.MethodHead}, m.exposition()}))
	mux.Handle("/", http.NotFoundHandler())
	return mux
}

// decided counts a request the person was asked about.
func (m *Metrics) decided(o outcome, path string, elapsed time.Duration) {
	if m == nil {
		return
	}
	if path == "" {
		path = pathNone
	}
	m.requests.WithLabelValues(o.status, path).Inc()
	m.latency.WithLabelValues(o.status).Observe(elapsed.Seconds())
}

// refusal counts a request refused before the person was asked; limit is
// the limit's key for a 429, else "".
func (m *Metrics) refusal(o outcome, limit string) {
	if m == nil {
		return
	}
	reason := o.reason
	if reason == "" {
		reason = o.status
	}
	m.refused.WithLabelValues(reason, limit).Inc()
}

// asking counts a request waiting for the person; call done when it ends.
func (m *Metrics) asking() (done func()) {
	if m == nil {
		return func() {}
	}
	m.pending.Inc()
	return m.pending.Dec
}
