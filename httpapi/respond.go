package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// errNotFound is a path the API does not have, mapped by statusOf like
// the other errors of the HTTP layer itself.
var errNotFound = errors.New("httpapi: no such path")

// methodError is a method a path does not serve: a 405 whose Allow header
// lists the methods it does.
type methodError struct{ allow []string }

func (e *methodError) Error() string {
	return "httpapi: method not allowed; use " + strings.Join(e.allow, " or ")
}

// notReadyError is /readyz's answer while the gateway cannot send
// requests: err is what the Confirmer's Ready returned. It does not unwrap,
// so it never reads as one of /auth's outcomes.
type notReadyError struct{ err error }

func (e *notReadyError) Error() string { return "httpapi: not ready: " + e.err.Error() }

// statusCanceled is logged (never really sent: the caller is gone) when
// the caller hung up before the answer; nginx's "client closed request".
const statusCanceled = 499

// The gateway's own status codes (Cloudflare's, also used by the old
// gateway); net/http has no names for them.
const (
	statusError       = 520
	statusUnreachable = 523
)

// outcome is the answer to one request: status code, status word and the
// detail shown to the caller.
type outcome struct {
	code   int
	status string
	detail string
	// retryAfter is the Retry-After header in seconds (a 429); 0 = none.
	retryAfter int
	// allow is the Allow header (a 405); "" = none.
	allow string
	// reason names the cause where one status word has several (523: the
	// gateway not connected, or shutting down), for the metrics; "" when
	// the status word says it all.
	reason string
	// text is the text answer of a fixed outcome, built once (nil when the
	// detail varies: 400, 405, 429). write uses it only while status and
	// detail are still the ones it was built from.
	text *textAnswer
}

// textAnswer is the text body "status: detail\n" of a fixed outcome and
// its Content-Length. Both are shared by every answer: never modify them.
type textAnswer struct {
	status, detail string
	body           []byte
	length         []string // len and cap 1: an append copies
}

// fixed returns an outcome whose detail never varies, with its text answer.
func fixed(code int, status, detail, reason string) outcome {
	body := []byte(status + ": " + detail + "\n")
	return outcome{code: code, status: status, detail: detail, reason: reason,
		text: &textAnswer{status: status, detail: detail, body: body, length: []string{strconv.Itoa(len(body))}}}
}

// The fixed outcomes of statusOf.
var (
	outApproved       = fixed(http.StatusOK, "approved", "the person approved the request", "")
	outNotReady       = fixed(http.StatusServiceUnavailable, "not_ready", auth.ErrNotConnected.Error(), "")
	outNotReadyClosed = fixed(http.StatusServiceUnavailable, "not_ready", auth.ErrShuttingDown.Error(), "")
	outForbidden      = fixed(http.StatusForbidden, "forbidden", "a valid API key is required (Authorization: Bearer KEY)", "")
	outTooLarge       = fixed(http.StatusRequestEntityTooLarge, "too_large", "the request body is too large", "")
	outNotFound       = fixed(http.StatusNotFound, "not_found", "no such path; the API is /auth", "")
	outCanceled       = fixed(statusCanceled, "canceled", auth.ErrCanceled.Error(), "")
	outDenied         = fixed(http.StatusUnauthorized, "denied", auth.ErrDenied.Error(), "")
	outTimeout        = fixed(http.StatusUnauthorized, "timeout", auth.ErrTimeout.Error(), "")
	outConflict       = fixed(http.StatusConflict, "conflict", auth.ErrConflict.Error(), "")
	outNotConnected   = fixed(statusUnreachable, "unreachable", auth.ErrNotConnected.Error(), "not_connected")
	outShuttingDown   = fixed(statusUnreachable, "unreachable", auth.ErrShuttingDown.Error(), "shutting_down")
	outUnreachable    = fixed(statusUnreachable, "unreachable", auth.ErrUnreachable.Error(), "")
	outError          = fixed(statusError, "error", "the gateway could not complete the request; the details are in its log", "")
)

// statusOf maps the result of a request to its answer: nil (approved), a
// validation error, or an error from the Confirmer. It is the only place
// that chooses a status code. Details never carry an unexpected error's
// text: that goes to the log only.
//
// The checks run in a fixed order (an error that matches several gets the
// first). errors.AsType rather than errors.As: its target does not escape,
// so mapping an answer allocates nothing.
func statusOf(err error) outcome {
	if err == nil {
		return outApproved
	}
	if nr, ok := errors.AsType[*notReadyError](err); ok {
		if errors.Is(nr.err, auth.ErrShuttingDown) {
			return outNotReadyClosed
		}
		return outNotReady
	}
	if pe, ok := errors.AsType[*paramError](err); ok {
		return outcome{code: http.StatusBadRequest, status: "invalid", detail: pe.Detail}
	}
	if errors.Is(err, errForbidden) {
		return outForbidden
	}
	if le, ok := errors.AsType[*LimitError](err); ok {
		return outcome{code: http.StatusTooManyRequests, status: "rate_limited", detail: le.Detail,
			retryAfter: int(retryAfter(le.RetryAfter) / time.Second)}
	}
	if errors.Is(err, errTooLarge) {
		return outTooLarge
	}
	if me, ok := errors.AsType[*methodError](err); ok {
		return outcome{code: http.StatusMethodNotAllowed, status: "method_not_allowed",
			detail: "use " + strings.Join(me.allow, " or "), allow: strings.Join(me.allow, ", ")}
	}
	switch {
	case errors.Is(err, errNotFound):
		return outNotFound
	case errors.Is(err, auth.ErrCanceled), errors.Is(err, context.Canceled):
		return outCanceled
	case errors.Is(err, auth.ErrDenied):
		return outDenied
	case errors.Is(err, auth.ErrTimeout):
		return outTimeout
	case errors.Is(err, auth.ErrConflict):
		return outConflict
	case errors.Is(err, auth.ErrNotConnected):
		return outNotConnected
	case errors.Is(err, auth.ErrShuttingDown):
		return outShuttingDown
	case errors.Is(err, auth.ErrUnreachable):
		return outUnreachable
	default: // auth.ErrServer and anything unexpected
		return outError
	}
}

// jsonReply is the JSON body of an answer. Every field is always present
// ("" when unknown), so clients can rely on the shape. appendJSONReply
// writes it.
type jsonReply struct {
	Status        string `json:"status"`
	TransactionID string `json:"transaction_id"`
	JID           string `json:"jid"`
	Detail        string `json:"detail"`
}

// jsonReplySize is the length of appendJSONReply's output around the
// values, plus room for a few escapes.
const jsonReplySize = len(`{"status":"","transaction_id":"","jid":"","detail":""}`+"\n") + 16

// appendJSONReply appends the JSON of jsonReply{status, txn, jid, detail}
// and a newline to b: byte for byte what json.Marshal gives (tested),
// without its reflection and copies.
func appendJSONReply(b []byte, status, txn, jid, detail string) []byte {
	b = append(b, `{"status":`...)
	b = appendJSONString(b, status)
	b = append(b, `,"transaction_id":`...)
	b = appendJSONString(b, txn)
	b = append(b, `,"jid":`...)
	b = appendJSONString(b, jid)
	b = append(b, `,"detail":`...)
	b = appendJSONString(b, detail)
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string the way encoding/json does
// by default: control characters, '"' and '\\' escaped, '<', '>' and '&'
// as \u003c, \u003e and \u0026 (HTML-safe), invalid UTF-8 as \ufffd, and
// U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			start = i + size
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			start = i + size
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Header values write shares between answers. Each has length and
// capacity 1, so an append copies it; nothing may modify them in place
// (net/http only reads a handler's header values: it sends a clone).
var (
	hdrNoStore = []string{"no-store"}
	hdrNosniff = []string{"nosniff"}
	hdrText    = []string{"text/plain; charset=utf-8"}
	hdrJSON    = []string{"application/json"}
)

// write sends o: header X-Transaction-Id when txn is known, and a body of
// one text line "status: detail" or, when the caller accepts it, JSON.
// Answers are never cached: each one is a decision about one request.
//
// It uses w's Header, WriteHeader and Write only, so it works with any
// http.ResponseWriter. The headers are assigned by their canonical names
// (what Header.Set does, without allocating a slice for each).
func write(w http.ResponseWriter, r *http.Request, o outcome, txn, jid string) {
	asJSON := acceptsJSON(r.Header.Values("Accept"))
	var text *textAnswer
	if t := o.text; !asJSON && t != nil && t.status == o.status && t.detail == o.detail {
		text = t
	}
	// The values of this answer alone, in one allocation of their exact
	// size; each header gets a slice of length and capacity 1.
	n := 0
	for _, set := range [...]bool{txn != "", o.retryAfter > 0, o.allow != "", text == nil} {
		if set {
			n++
		}
	}
	vals := make([]string, n)
	h := w.Header()
	set := func(key, v string) {
		vals[0] = v
		h[key] = vals[:1:1]
		vals = vals[1:]
	}
	if txn != "" {
		set("X-Transaction-Id", txn)
	}
	if o.retryAfter > 0 {
		set("Retry-After", strconv.Itoa(o.retryAfter))
	}
	if o.allow != "" {
		set("Allow", o.allow)
	}
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNosniff
	var body []byte
	switch {
	case asJSON:
		body = appendJSONReply(make([]byte, 0, jsonReplySize+len(o.status)+len(txn)+len(jid)+len(o.detail)), o.status, txn, jid, o.detail)
		h["Content-Type"] = hdrJSON
	case text != nil:
		body = text.body
		h["Content-Type"] = hdrText
		h["Content-Length"] = text.length
	default:
		body = make([]byte, 0, len(o.status)+len(": ")+len(o.detail)+1)
		body = append(append(append(append(body, o.status...), ": "...), o.detail...), '\n')
		h["Content-Type"] = hdrText
	}
	if text == nil {
		set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(o.code)
	_, _ = w.Write(body) // a failed write means the caller is gone
}

// acceptsJSON reports whether an Accept header names application/json,
// read loosely: any media range equal to it (case-insensitive, other
// parameters ignored) whose q is not zero. Wildcards do not count: text
// stays the default for curl and browsers.
func acceptsJSON(values []string) bool {
	for _, v := range values {
		for rng := range strings.SplitSeq(v, ",") {
			mt, ps, _ := strings.Cut(rng, ";")
			if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
				continue
			}
			if !qIsZero(ps) {
				return true
			}
		}
	}
	return false
}

// qIsZero reports whether the parameters of a media range say q=0 (not
// acceptable). A q that does not parse is ignored.
func qIsZero(ps string) bool {
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
