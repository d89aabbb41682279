package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

func decodeJSON(t *testing.T, w *httptest.ResponseRecorder) jsonReply {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var r jsonReply
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return r
}

func TestRequestReachesConfirmer(t *testing.T) {
	f := &fakeConfirmer{}
	h, _ := newHandler(t, f, Options{})
	w := do(t, h, "GET", "/auth?jid=Alice@Example.ORG/Phone&url=https://example.com/login&method=POST&transaction_id=Code-42&timeout=30", "", nil)
	if w.Code != 200 || w.Body.String() != "approved: the person approved the request\n" {
		t.Fatalf("got %d %q", w.Code, w.Body.String())
	}
	want := auth.Request{
		JID:           auth.JID{Local: "alice", Domain: "example.org", Resource: "Phone"},
		TransactionID: "Code-42",
		Method:        "POST",
		URL:           "https://example.com/login",
		Timeout:       30 * time.Second,
		Caller:        "192.0.2.1", // httptest.NewRequest's RemoteAddr, port dropped
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0] != want {
		t.Fatalf("confirmer got %+v\nwant %+v", reqs, want)
	}
	if got := w.Header().Get("X-Transaction-Id"); got != "Code-42" {
		t.Errorf("X-Transaction-Id = %q", got)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name     string
		def      time.Duration
		param    string
		wantWait time.Duration
	}{
		{"default from options", 42 * time.Second, "", 42 * time.Second},
		{"default when options say nothing", 0, "", DefaultTimeout},
		{"default above the maximum", time.Hour, "", MaxTimeout},
		{"given", 42 * time.Second, "&timeout=5", 5 * time.Second},
		{"400 lowered to 300", 42 * time.Second, "&timeout=400", 300 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeConfirmer{}
			h, _ := newHandler(t, f, Options{DefaultTimeout: tc.def})
			w := do(t, h, "GET", "/auth?"+okParams+tc.param, "", nil)
			if w.Code != 200 {
				t.Fatalf("code %d: %s", w.Code, w.Body)
			}
			if got := f.requests()[0].Timeout; got != tc.wantWait {
				t.Errorf("timeout = %v, want %v", got, tc.wantWait)
			}
		})
	}
}

func TestGeneratedTransactionID(t *testing.T) {
	format := regexp.MustCompile(`^[` + auth.TxnAlphabet + `]{8}$`)
	t.Run("from the injected reader", func(t *testing.T) {
		f := &fakeConfirmer{}
		h, _ := newHandler(t, f, Options{IDs: constReader(3)})
		w := do(t, h, "GET", "/auth?"+okParams, "", map[string]string{"Accept": "application/json"})
		const want = "55555555" // TxnAlphabet[3] eight times
		if got := w.Header().Get("X-Transaction-Id"); got != want {
			t.Errorf("X-Transaction-Id = %q, want %q", got, want)
		}
		if got := decodeJSON(t, w).TransactionID; got != want {
			t.Errorf("JSON transaction_id = %q, want %q", got, want)
		}
		if got := f.requests()[0].TransactionID; got != want {
			t.Errorf("confirmer got %q, want %q", got, want)
		}
	})
	t.Run("from crypto/rand", func(t *testing.T) {
		f := &fakeConfirmer{}
		h := New(Options{Confirmer: f})
		seen := map[string]bool{}
		for range 20 {
			w := do(t, h, "GET", "/auth?"+okParams, "", nil)
			id := w.Header().Get("X-Transaction-Id")
			if !format.MatchString(id) {
				t.Fatalf("generated id %q does not match %s", id, format)
			}
			seen[id] = true
		}
		if len(seen) < 19 { // 40 bits each: a collision in 20 is all but impossible
			t.Errorf("only %d distinct ids in 20", len(seen))
		}
	})
	t.Run("on a 400 too", func(t *testing.T) {
		h, _ := newHandler(t, &fakeConfirmer{}, Options{})
		w := do(t, h, "GET", "/auth?jid=a@b", "", nil)
		if w.Code != 400 || w.Header().Get("X-Transaction-Id") != "22222222" {
			t.Errorf("got %d, X-Transaction-Id %q", w.Code, w.Header().Get("X-Transaction-Id"))
		}
	})
	t.Run("not for an invalid given id", func(t *testing.T) {
		h, _ := newHandler(t, &fakeConfirmer{}, Options{})
		w := do(t, h, "GET", "/auth?"+okParams+"&transaction_id=a%0D%0Ab", "", nil)
		if _, ok := w.Header()["X-Transaction-Id"]; w.Code != 400 || ok {
			t.Errorf("got %d, header %v", w.Code, w.Header())
		}
	})
	t.Run("valid given id kept on a 400", func(t *testing.T) {
		h, _ := newHandler(t, &fakeConfirmer{}, Options{})
		w := do(t, h, "GET", "/auth?transaction_id=XYZ", "", nil)
		if w.Code != 400 || w.Header().Get("X-Transaction-Id") != "XYZ" {
			t.Errorf("got %d, X-Transaction-Id %q", w.Code, w.Header().Get("X-Transaction-Id"))
		}
	})
	t.Run("randomness fails", func(t *testing.T) {
		f := &fakeConfirmer{}
		h, logs := newHandler(t, f, Options{IDs: failingReader{}})
		w := do(t, h, "GET", "/auth?"+okParams, "", nil)
		if w.Code != 520 || len(f.requests()) != 0 {
			t.Errorf("got %d, %d requests", w.Code, len(f.requests()))
		}
		if !strings.Contains(logs.String(), "cannot generate a transaction id") {
			t.Errorf("log: %s", logs)
		}
	})
}

// TestDecisions: every outcome of Confirm, as text and as JSON.
func TestDecisions(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   int
		status string
		detail string
	}{
		{"approved", nil, 200, "approved", "the person approved the request"},
		{"denied", auth.ErrDenied, 401, "denied", "the person refused the request"},
		{"denied wrapped", fmt.Errorf("component: not-authorized: %w", auth.ErrDenied), 401, "denied", "the person refused the request"},
		{"timeout", auth.ErrTimeout, 401, "timeout", "no answer in time"},
		{"conflict", auth.ErrConflict, 409, "conflict", "this transaction id is already pending for this JID"},
		{"unreachable", fmt.Errorf("component: remote-server-not-found: %w", auth.ErrUnreachable), 523, "unreachable", "the person cannot be reached"},
		{"not connected", auth.ErrNotConnected, 523, "unreachable", "the gateway is not connected to its XMPP server"},
		{"shutting down", auth.ErrShuttingDown, 523, "unreachable", "the gateway is shutting down"},
		{"server error", fmt.Errorf("component: secret-detail-xyzzy: %w", auth.ErrServer), 520, "error", "the gateway could not complete the request; the details are in its log"},
		{"unexpected", errors.New("secret-detail-xyzzy"), 520, "error", "the gateway could not complete the request; the details are in its log"},
		{"deadline is not a decision", context.DeadlineExceeded, 520, "error", "the gateway could not complete the request; the details are in its log"},
	}
	for _, tc := range tests {
		for _, asJSON := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/json=%v", tc.name, asJSON), func(t *testing.T) {
				f := &fakeConfirmer{confirm: func(context.Context, auth.Request) (auth.Decision, error) {
					return auth.Decision{Path: auth.PathMessage}, tc.err
				}}
				h, logs := newHandler(t, f, Options{})
				hdr := map[string]string{}
				if asJSON {
					hdr["Accept"] = "text/html, Application/JSON; charset=utf-8"
				}
				w := do(t, h, "GET", "/auth?"+okParams+"&transaction_id=T1", "", hdr)
				if w.Code != tc.code {
					t.Errorf("code = %d, want %d", w.Code, tc.code)
				}
				if got := w.Header().Get("X-Transaction-Id"); got != "T1" {
					t.Errorf("X-Transaction-Id = %q", got)
				}
				if asJSON {
					want := jsonReply{Status: tc.status, TransactionID: "T1", JID: "alice@example.org", Detail: tc.detail}
					if got := decodeJSON(t, w); got != want {
						t.Errorf("JSON = %+v, want %+v", got, want)
					}
				} else if got, want := w.Body.String(), tc.status+": "+tc.detail+"\n"; got != want {
					t.Errorf("body = %q, want %q", got, want)
				}
				if strings.Contains(w.Body.String(), "xyzzy") {
					t.Error("the body leaks the error")
				}
				log := logs.String()
				for _, attr := range []string{"jid=alice@example.org", "txn=T1", "outcome=" + tc.status, "elapsed="} {
					if !strings.Contains(log, attr) {
						t.Errorf("log lacks %q: %s", attr, log)
					}
				}
				if tc.code == 520 && !strings.Contains(log, "xyzzy") && tc.err != context.DeadlineExceeded {
					t.Errorf("log lacks the real error: %s", log)
				}
				if tc.err == nil && !strings.Contains(log, "path=message") {
					t.Errorf("log lacks the path: %s", log)
				}
			})
		}
	}
}

// TestBadInputJSON: a 400 in JSON names the parameter in detail.
func TestBadInputJSON(t *testing.T) {
	h, _ := newHandler(t, &fakeConfirmer{}, Options{})
	w := do(t, h, "GET", "/auth?jid=a@b&domain=x&method=GE+T&transaction_id=Q", "", map[string]string{"Accept": "application/json"})
	want := jsonReply{Status: "invalid", TransactionID: "Q", JID: "a@b",
		Detail: "method: must be an HTTP method token (letters, digits and !#$%&'*+-.^_`|~)"}
	if got := decodeJSON(t, w); w.Code != 400 || got != want {
		t.Errorf("got %d %+v, want %+v", w.Code, got, want)
	}
}

func TestNotReady(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		detail string
	}{
		{"not connected", fmt.Errorf("component: %w", auth.ErrNotConnected), "the gateway is not connected to its XMPP server"},
		{"shutting down", auth.ErrShuttingDown, "the gateway is shutting down"},
		{"other", errors.New("weird"), "the gateway is not connected to its XMPP server"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeConfirmer{readyErr: tc.err}
			h, _ := newHandler(t, f, Options{})
			w := do(t, h, "GET", "/auth?"+okParams, "", nil)
			if w.Code != 523 || w.Body.String() != "unreachable: "+tc.detail+"\n" {
				t.Errorf("got %d %q", w.Code, w.Body.String())
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("confirmer asked %d times", n)
			}
			if w.Header().Get("X-Transaction-Id") == "" {
				t.Error("no X-Transaction-Id")
			}
			// Bad input is still a 400 first.
			w = do(t, h, "GET", "/auth?jid=a@b", "", nil)
			if w.Code != 400 {
				t.Errorf("bad input while not ready: %d", w.Code)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h, _ := newHandler(t, &fakeConfirmer{}, Options{})
	for _, m := range []string{"PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "BREW"} {
		t.Run(m, func(t *testing.T) {
			w := do(t, h, m, "/auth?"+okParams, "", nil)
			if w.Code != 405 {
				t.Fatalf("code = %d", w.Code)
			}
			if got := w.Header().Get("Allow"); got != "GET, POST" {
				t.Errorf("Allow = %q", got)
			}
			// SPEC: every /auth answer carries X-Transaction-Id.
			if got := w.Header().Get("X-Transaction-Id"); len(got) != auth.TxnLength {
				t.Errorf("X-Transaction-Id = %q, want a generated id", got)
			}
			if m != "HEAD" && w.Body.String() != "method_not_allowed: use GET or POST\n" {
				t.Errorf("body = %q", w.Body.String())
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	h, _ := newHandler(t, &fakeConfirmer{}, Options{})
	// Without Options.Metrics there is no /metrics.
	for _, p := range []string{"/", "/auth/", "/authx", "/AUTH", "/healthz/", "/readyz/x", "/metrics", "/auth/x?jid=a@b"} {
		t.Run(p, func(t *testing.T) {
			w := do(t, h, "GET", p, "", nil)
			if w.Code != 404 || w.Body.String() != "not_found: no such path; the API is /auth\n" {
				t.Errorf("got %d %q", w.Code, w.Body.String())
			}
		})
	}
}

func TestPost(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name     string
		query    string
		body     string
		ctype    string
		chunked  bool // unknown length: the limit is found while reading
		code     int
		wantBody string // prefix
	}{
		{"form body", "", okParams + "&transaction_id=P1", form, false, 200, "approved"},
		{"form body with charset", "", okParams, form + "; charset=UTF-8", false, 200, "approved"},
		{"query only, no body", okParams, "", "", false, 200, "approved"},
		{"query and body", "jid=a@b&timeout=9", "domain=x&method=GET", form, false, 200, "approved"},
		{"repeated across query and body", okParams, "jid=a@b", form, false, 400, "invalid: jid is given more than once\n"},
		{"repeated in body", "", okParams + "&method=GET", form, false, 400, "invalid: method is given more than once\n"},
		{"other content type", "", okParams, "multipart/form-data; boundary=x", false, 400, "invalid: Content-Type: must be application/x-www-form-urlencoded\n"},
		{"json body", "", `{"jid":"a@b"}`, "application/json", false, 400, "invalid: Content-Type: must be"},
		{"broken content type", "", okParams, "form;;;=", false, 400, "invalid: Content-Type: must be"},
		{"body without content type", "", okParams, "", false, 400, "invalid: Content-Type is missing\n"},
		{"too large", "", okParams + "&pad=" + strings.Repeat("x", 201), form, false, 413, "too_large: the request body is too large\n"},
		{"too large, chunked", "", okParams + "&pad=" + strings.Repeat("x", 201), form, true, 413, "too_large: the request body is too large\n"},
		{"exactly at the limit, chunked", "", okParams + "&pad=" + strings.Repeat("x", 256-len(okParams)-5), form, true, 200, "approved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeConfirmer{}
			h, _ := newHandler(t, f, Options{MaxBodyBytes: 256})
			var r *http.Request
			if tc.body == "" {
				r = httptest.NewRequest("POST", "/auth?"+tc.query, nil)
			} else {
				r = httptest.NewRequest("POST", "/auth?"+tc.query, strings.NewReader(tc.body))
			}
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			if tc.chunked {
				r.ContentLength = -1
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.code || !strings.HasPrefix(w.Body.String(), tc.wantBody) {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), tc.code, tc.wantBody)
			}
			if w.Header().Get("X-Transaction-Id") == "" {
				t.Error("no X-Transaction-Id")
			}
			if tc.code != 200 && len(f.requests()) != 0 {
				t.Error("the confirmer was asked")
			}
		})
	}
}

func TestAcceptsJSON(t *testing.T) {
	tests := []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"application/json"}, true},
		{[]string{"APPLICATION/JSON"}, true},
		{[]string{" application/json ; charset=utf-8"}, true},
		{[]string{"text/plain, application/json;q=0.5"}, true},
		{[]string{"text/plain", "application/json"}, true},
		{[]string{"application/json;q=0"}, false},
		{[]string{"application/json; Q=0.000"}, false},
		{[]string{`application/json;q="0"`}, false},
		{[]string{"application/json;q=oops"}, true},
		{[]string{"application/json;;;"}, true},
		{[]string{"*/*"}, false},
		{[]string{"application/*"}, false},
		{[]string{"application/jsonx"}, false},
		{[]string{"application/problem+json"}, false},
		{[]string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, false},
	}
	for _, tc := range tests {
		if got := acceptsJSON(tc.accept); got != tc.want {
			t.Errorf("acceptsJSON(%q) = %v, want %v", tc.accept, got, tc.want)
		}
	}
}

// TestCallerHangsUp: a caller that goes away cancels the context the
// Confirmer waits on.
func TestCallerHangsUp(t *testing.T) {
	started := make(chan struct{})
	ended := make(chan error, 1)
	f := &fakeConfirmer{confirm: func(ctx context.Context, req auth.Request) (auth.Decision, error) {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return auth.Decision{}, fmt.Errorf("component: %w", auth.ErrCanceled)
	}}
	h, logs := newHandler(t, f, Options{})
	ts := httptest.NewServer(h)
	defer ts.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/auth?"+okParams, nil)
	done := make(chan error, 1)
	go func() {
		resp, err := ts.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the confirmer was not asked")
	}
	cancel()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ctx.Err() = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the confirmer's context was not cancelled")
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("client: %v", err)
	}
	waitFor(t, "the log line", func() bool { return strings.Contains(logs.String(), "caller went away") })
}

// TestCanceledWithoutHangUp: even if a Confirmer says "canceled" wrongly,
// the answer is never an implicit 200.
func TestCanceledWithoutHangUp(t *testing.T) {
	f := &fakeConfirmer{confirm: func(context.Context, auth.Request) (auth.Decision, error) {
		return auth.Decision{}, auth.ErrCanceled
	}}
	h, _ := newHandler(t, f, Options{})
	if w := do(t, h, "GET", "/auth?"+okParams, "", nil); w.Code == 200 {
		t.Errorf("code = %d", w.Code)
	}
}

func TestNewPanicsWithoutConfirmer(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	New(Options{})
}
