package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// legacyStatusOf and legacyWrite are statusOf and write as they were
// before they were tuned for allocations (kept verbatim but for the
// names): the tuned ones must answer byte for byte the same.
func legacyStatusOf(err error) outcome {
	var pe *paramError
	var le *LimitError
	var me *methodError
	var nr *notReadyError
	switch {
	case err == nil:
		return outcome{code: http.StatusOK, status: "approved", detail: "the person approved the request"}
	case errors.As(err, &nr):
		detail := auth.ErrNotConnected.Error()
		if errors.Is(nr.err, auth.ErrShuttingDown) {
			detail = auth.ErrShuttingDown.Error()
		}
		return outcome{code: http.StatusServiceUnavailable, status: "not_ready", detail: detail}
	case errors.As(err, &pe):
		return outcome{code: http.StatusBadRequest, status: "invalid", detail: pe.Detail}
	case errors.Is(err, errForbidden):
		return outcome{code: http.StatusForbidden, status: "forbidden", detail: "a valid API key is required (Authorization: Bearer KEY)"}
	case errors.As(err, &le):
		return outcome{code: http.StatusTooManyRequests, status: "rate_limited", detail: le.Detail,
			retryAfter: int(retryAfter(le.RetryAfter) / time.Second)}
	case errors.Is(err, errTooLarge):
		return outcome{code: http.StatusRequestEntityTooLarge, status: "too_large", detail: "the request body is too large"}
	case errors.As(err, &me):
		return outcome{code: http.StatusMethodNotAllowed, status: "method_not_allowed",
			detail: "use " + strings.Join(me.allow, " or "), allow: strings.Join(me.allow, ", ")}
	case errors.Is(err, errNotFound):
		return outcome{code: http.StatusNotFound, status: "not_found", detail: "no such path; the API is /auth"}
	case errors.Is(err, auth.ErrCanceled), errors.Is(err, context.Canceled):
		return outcome{code: statusCanceled, status: "canceled", detail: auth.ErrCanceled.Error()}
	case errors.Is(err, auth.ErrDenied):
		return outcome{code: http.StatusUnauthorized, status: "denied", detail: auth.ErrDenied.Error()}
	case errors.Is(err, auth.ErrTimeout):
		return outcome{code: http.StatusUnauthorized, status: "timeout", detail: auth.ErrTimeout.Error()}
	case errors.Is(err, auth.ErrConflict):
		return outcome{code: http.StatusConflict, status: "conflict", detail: auth.ErrConflict.Error()}
	case errors.Is(err, auth.ErrNotConnected):
		return outcome{code: statusUnreachable, status: "unreachable", detail: auth.ErrNotConnected.Error(), reason: "not_connected"}
	case errors.Is(err, auth.ErrShuttingDown):
		return outcome{code: statusUnreachable, status: "unreachable", detail: auth.ErrShuttingDown.Error(), reason: "shutting_down"}
	case errors.Is(err, auth.ErrUnreachable):
		return outcome{code: statusUnreachable, status: "unreachable", detail: auth.ErrUnreachable.Error()}
	default:
		return outcome{code: statusError, status: "error", detail: "the gateway could not complete the request; the details are in its log"}
	}
}

func legacyWrite(w http.ResponseWriter, r *http.Request, o outcome, txn, jid string) {
	h := w.Header()
	if txn != "" {
		h.Set("X-Transaction-Id", txn)
	}
	if o.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(o.retryAfter))
	}
	if o.allow != "" {
		h.Set("Allow", o.allow)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	var body []byte
	if legacyAcceptsJSON(r.Header.Values("Accept")) {
		body, _ = json.Marshal(jsonReply{Status: o.status, TransactionID: txn, JID: jid, Detail: o.detail})
		body = append(body, '\n')
		h.Set("Content-Type", "application/json")
	} else {
		body = []byte(o.status + ": " + o.detail + "\n")
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(o.code)
	_, _ = w.Write(body)
}

func legacyAcceptsJSON(values []string) bool {
	for _, v := range values {
		for rng := range strings.SplitSeq(v, ",") {
			mt, ps, _ := strings.Cut(rng, ";")
			if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
				continue
			}
			if !legacyQIsZero(ps) {
				return true
			}
		}
	}
	return false
}

func legacyQIsZero(ps string) bool {
	for p := range strings.SplitSeq(ps, ";") {
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.Trim(strings.TrimSpace(v), `"`), 64)
		return err == nil && f <= 0
	}
	return false
}

// sameOutcome reports whether a and b give the same answer (the fields
// legacyStatusOf sets).
func sameOutcome(a, b outcome) bool {
	return a.code == b.code && a.status == b.status && a.detail == b.detail &&
		a.retryAfter == b.retryAfter && a.allow == b.allow && a.reason == b.reason
}

// writeBoth writes o with write and with legacyWrite and reports any
// difference in status code, headers or body.
func writeBoth(t *testing.T, o outcome, accept []string, txn, jid string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/auth", nil)
	for _, a := range accept {
		r.Header.Add("Accept", a)
	}
	got, want := httptest.NewRecorder(), httptest.NewRecorder()
	got.Header().Set("Connection", "close") // set earlier by readBody
	want.Header().Set("Connection", "close")
	write(got, r, o, txn, jid)
	legacyWrite(want, r, o, txn, jid)
	if got.Code != want.Code || !reflect.DeepEqual(got.Result().Header, want.Result().Header) || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
		t.Fatalf("write(%+v, Accept %q, txn %q, jid %q):\ngot  %d %v %q\nwant %d %v %q", o, accept, txn, jid,
			got.Code, got.Result().Header, got.Body.Bytes(), want.Code, want.Result().Header, want.Body.Bytes())
	}
}

// TestWriteSameAsLegacy: every outcome statusOf gives, in text and JSON,
// with and without a transaction id and JID, is answered as before.
func TestWriteSameAsLegacy(t *testing.T) {
	errs := []error{
		&notReadyError{err: auth.ErrShuttingDown},
		&notReadyError{err: errors.New("other")},
		badParam(paramJID, "must be user@host <&> \"x\"\n\u2028\xff"),
		&LimitError{Limit: LimitNamePendingTotal, Detail: "too many", RetryAfter: 1500 * time.Millisecond},
		&LimitError{Limit: LimitNamePendingTotal, Detail: "too many", RetryAfter: 120 * time.Second},
		&methodError{allow: []string{http.MethodGet}},
		auth.ErrServer,
	}
	for _, err := range statusOfCases {
		errs = append(errs, err)
	}
	for _, err := range errs {
		o := statusOf(err)
		if lo := legacyStatusOf(err); !sameOutcome(o, lo) {
			t.Errorf("statusOf(%v) = %+v, want %+v", err, o, lo)
		}
		for _, accept := range [][]string{nil, {"text/plain"}, {"application/json"}, {"text/html", "application/json;q=0.1"}, {"application/json;q=0"}} {
			for _, ids := range [][2]string{{"", ""}, {"HELLO42", ""}, {"HELLO42", "alice@example.org/phone"}, {"a", "<b>&c@d/é\u2029"}} {
				writeBoth(t, o, accept, ids[0], ids[1])
			}
		}
		// An outcome changed after statusOf is answered as it now reads.
		changed := o
		changed.detail += " (changed)"
		writeBoth(t, changed, nil, "T1", "")
		changed = o
		changed.status = "other"
		writeBoth(t, changed, nil, "T1", "")
	}
}

// TestWriteRepeated: an answer written after another, whose headers were
// added to, is unchanged (the values write shares are never appended to).
func TestWriteRepeated(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/auth", nil)
	for _, accept := range []string{"", "application/json"} {
		r.Header.Set("Accept", accept)
		for _, err := range []error{nil, auth.ErrDenied, missing(paramJID)} {
			first := httptest.NewRecorder()
			write(first, r, statusOf(err), "T1", "a@b")
			for k := range first.Header() {
				first.Header().Add(k, "more")
			}
			again, want := httptest.NewRecorder(), httptest.NewRecorder()
			write(again, r, statusOf(err), "T1", "a@b")
			legacyWrite(want, r, legacyStatusOf(err), "T1", "a@b")
			if !reflect.DeepEqual(again.Result().Header, want.Result().Header) || again.Body.String() != want.Body.String() {
				t.Errorf("after a first answer: %v %q, want %v %q", again.Result().Header, again.Body, want.Result().Header, want.Body)
			}
		}
	}
}

// FuzzWriteSameAsLegacy: any status word, detail, id, JID and Accept
// header give the same answer as before (notably the JSON escaping).
func FuzzWriteSameAsLegacy(f *testing.F) {
	f.Add("approved", "the person approved the request", "HELLO42", "alice@example.org", "application/json", 0)
	f.Add("invalid", "jid: <&>\"\\\x00\x1f\x7f\b\f\n\r\t", "", "é\u2028\u2029\xff\xc3", "APPLICATION/JSON;q=0.5", 0)
	f.Add("rate_limited", "x", "T", "", "text/plain, application/json;q=oops", 30)
	f.Fuzz(func(t *testing.T, status, detail, txn, jid, accept string, retry int) {
		o := outcome{code: http.StatusOK, status: status, detail: detail, retryAfter: retry % 1000}
		writeBoth(t, o, []string{accept}, txn, jid)
		if got, want := acceptsJSON([]string{accept}), legacyAcceptsJSON([]string{accept}); got != want {
			t.Fatalf("acceptsJSON(%q) = %v, want %v", accept, got, want)
		}
	})
}

// TestAppendJSONString: every string of one or two bytes, and every rune
// up to U+3000, is encoded as json.Marshal encodes it.
func TestAppendJSONString(t *testing.T) {
	check := func(s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
	for i := range 1 << 16 {
		check(string([]byte{byte(i)}))
		check(string([]byte{byte(i >> 8), byte(i)}))
	}
	for r := range rune(0x3000) {
		check("a" + string(r) + "\xe2\x80")
	}
}
