package httpapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// fakeConfirmer records the requests it gets and answers with confirm
// (approves when nil). Safe for concurrent use.
type fakeConfirmer struct {
	readyErr error
	confirm  func(ctx context.Context, req auth.Request) (auth.Decision, error)

	mu   sync.Mutex
	reqs []auth.Request
}

func (f *fakeConfirmer) Confirm(ctx context.Context, req auth.Request) (auth.Decision, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.confirm == nil {
		return auth.Decision{Path: auth.PathIQ}, nil
	}
	return f.confirm(ctx, req)
}

func (f *fakeConfirmer) Ready() error { return f.readyErr }

func (f *fakeConfirmer) requests() []auth.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]auth.Request(nil), f.reqs...)
}

var _ Confirmer = (*fakeConfirmer)(nil)

// constReader yields the same byte forever: generated ids become
// predictable (byte 0 gives "22222222").
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// failingReader fails every read.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// syncBuffer is a log sink safe for the handler's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newHandler returns the API with f and a logger into a buffer.
func newHandler(t *testing.T, f *fakeConfirmer, opts Options) (http.Handler, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	opts.Confirmer = f
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.IDs == nil {
		opts.IDs = constReader(0)
	}
	return New(opts), logs
}

// do sends one request through h. body "" means no body.
func do(t *testing.T, h http.Handler, method, target, body string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
