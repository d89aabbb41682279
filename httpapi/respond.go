package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

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
}

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
		return outcome{code: http.StatusOK, status: "approved", detail: "the person approved the request"}
	}
	if nr, ok := errors.AsType[*notReadyError](err); ok {
		detail := auth.ErrNotConnected.Error()
		if errors.Is(nr.err, auth.ErrShuttingDown) {
			detail = auth.ErrShuttingDown.Error()
		}
		return outcome{code: http.StatusServiceUnavailable, status: "not_ready", detail: detail}
	}
	if pe, ok := errors.AsType[*paramError](err); ok {
		return outcome{code: http.StatusBadRequest, status: "invalid", detail: pe.Detail}
	}
	if errors.Is(err, errForbidden) {
		return outcome{code: http.StatusForbidden, status: "forbidden", detail: "a valid API key is required (Authorization: Bearer KEY)"}
	}
	if le, ok := errors.AsType[*LimitError](err); ok {
		return outcome{code: http.StatusTooManyRequests, status: "rate_limited", detail: le.Detail,
			retryAfter: int(retryAfter(le.RetryAfter) / time.Second)}
	}
	if errors.Is(err, errTooLarge) {
		return outcome{code: http.StatusRequestEntityTooLarge, status: "too_large", detail: "the request body is too large"}
	}
	if me, ok := errors.AsType[*methodError](err); ok {
		return outcome{code: http.StatusMethodNotAllowed, status: "method_not_allowed",
			detail: "use " + strings.Join(me.allow, " or "), allow: strings.Join(me.allow, ", ")}
	}
	switch {
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
	default: // auth.ErrServer and anything unexpected
		return outcome{code: statusError, status: "error", detail: "the gateway could not complete the request; the details are in its log"}
	}
}

// jsonReply is the JSON body of an answer. Every field is always present
// ("" when unknown), so clients can rely on the shape.
type jsonReply struct {
	Status        string `json:"status"`
	TransactionID string `json:"transaction_id"`
	JID           string `json:"jid"`
	Detail        string `json:"detail"`
}

// write sends o: header X-Transaction-Id when txn is known, and a body of
// one text line "status: detail" or, when the caller accepts it, JSON.
// Answers are never cached: each one is a decision about one request.
func write(w http.ResponseWriter, r *http.Request, o outcome, txn, jid string) {
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
	if acceptsJSON(r.Header.Values("Accept")) {
		body, _ = json.Marshal(jsonReply{Status: o.status, TransactionID: txn, JID: jid, Detail: o.detail})
		body = append(body, '\n')
		h.Set("Content-Type", "application/json")
	} else {
		body = []byte(o.status + ": " + o.detail + "\n")
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
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
