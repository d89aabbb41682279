package httpapi

// Benchmarks of the HTTP side's hot paths (issue 5): parameter parsing,
// the /auth handler with a Confirmer that approves at once, and the whole
// net/http server over loopback. Run them with
//
//	go test -run '^$' -bench . -benchmem -count 6 ./httpapi
//
// (make bench-go), and compare runs with benchstat.

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// Typical queries, as a site sends them (url.Values.Encode order).
const (
	benchQueryFull = "domain=https%3A%2F%2Fshop.example%2Flogin&jid=alice%40example.org%2Fphone&method=POST&timeout=30"
	benchQueryBare = "domain=https%3A%2F%2Fshop.example%2Flogin&jid=alice%40example.org&method=POST&timeout=30&transaction_id=HELLO42"
)

// BenchmarkParseParams validates a typical query string: one full JID
// (RFC 7622 normalisation included), and one bare JID with the site's own
// transaction id.
func BenchmarkParseParams(b *testing.B) {
	for _, tc := range []struct{ name, query string }{{"full jid", benchQueryFull}, {"bare jid with code", benchQueryBare}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseParams(tc.query, "", time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWrite maps a result to its answer and writes it (statusOf +
// write): the common approval in text and JSON, and a 400 whose detail
// varies.
func BenchmarkWrite(b *testing.B) {
	for _, tc := range []struct {
		name   string
		err    error
		accept string
	}{
		{"approved text", nil, ""},
		{"approved json", nil, "application/json"},
		{"denied text", auth.ErrDenied, ""},
		{"invalid text", missing(paramMethod), ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/auth?"+benchQueryFull, nil)
			r.Header.Set("Accept", tc.accept)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				write(w, r, statusOf(tc.err), "HELLO42", "alice@example.org/phone")
			}
		})
	}
}

// approver approves every request at once, keeping nothing.
type approver struct{}

func (approver) Confirm(context.Context, auth.Request) (auth.Decision, error) {
	return auth.Decision{Path: auth.PathIQ}, nil
}

func (approver) Ready() error { return nil }

// discardWriter is a reusable http.ResponseWriter, so the handler's own
// allocations are what the benchmark reports.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkHandler runs the /auth handler (parameters, readiness,
// Confirm, status, logging, body) with an approving Confirmer: with the
// log discarded, and with the decision logged at info as a text line (the
// default; the line is formatted, then thrown away).
func BenchmarkHandler(b *testing.B) {
	for _, tc := range []struct {
		name   string
		logger *slog.Logger
		accept string
	}{
		{"no log", nil, ""},
		{"text log at info", slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})), ""},
		{"json log at info, json answer", slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})), "application/json"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := New(Options{Confirmer: approver{}, Logger: tc.logger})
			r := httptest.NewRequest(http.MethodGet, "/auth?"+benchQueryFull, nil)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

// BenchmarkServeLoopback is the whole HTTP side as the gateway runs it:
// NewServer with its timeouts, a loopback listener, and a keep-alive
// client, GOMAXPROCS×8 requests at a time. The client's cost is in the
// figures too.
func BenchmarkServeLoopback(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv := NewServer(New(Options{Confirmer: approver{}, Logger: logger}), logger)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close(); <-done })
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 256, DisableCompression: true}}
	defer client.CloseIdleConnections()
	target := "http://" + ln.Addr().String() + "/auth?" + benchQueryFull
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(target)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
