package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// Errors of the HTTP layer itself, mapped by statusOf like the others.
var (
	errMethodNotAllowed = errors.New("httpapi: method not allowed")
	errNotFound         = errors.New("httpapi: no such path")
)

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
}

// statusOf maps the result of a request to its answer: nil (approved), a
// validation error, or an error from the Confirmer. It is the only place
// that chooses a status code. Details never carry an unexpected error's
// text: that goes to the log only.
func statusOf(err error) outcome {
	var pe *paramError
	switch {
	case err == nil:
		return outcome{http.StatusOK, "approved", "the person approved the request"}
	case errors.As(err, &pe):
		return outcome{http.StatusBadRequest, "invalid", pe.Detail}
	case errors.Is(err, errTooLarge):
		return outcome{http.StatusRequestEntityTooLarge, "too_large", "the request body is too large"}
	case errors.Is(err, errMethodNotAllowed):
		return outcome{http.StatusMethodNotAllowed, "method_not_allowed", "use GET or POST"}
	case errors.Is(err, errNotFound):
		return outcome{http.StatusNotFound, "not_found", "no such path; the API is /auth"}
	case errors.Is(err, auth.ErrCanceled), errors.Is(err, context.Canceled):
		return outcome{statusCanceled, "canceled", auth.ErrCanceled.Error()}
	case errors.Is(err, auth.ErrDenied):
		return outcome{http.StatusUnauthorized, "denied", auth.ErrDenied.Error()}
	case errors.Is(err, auth.ErrTimeout):
		return outcome{http.StatusUnauthorized, "timeout", auth.ErrTimeout.Error()}
	case errors.Is(err, auth.ErrConflict):
		return outcome{http.StatusConflict, "conflict", auth.ErrConflict.Error()}
	case errors.Is(err, auth.ErrNotConnected):
		return outcome{statusUnreachable, "unreachable", auth.ErrNotConnected.Error()}
	case errors.Is(err, auth.ErrShuttingDown):
		return outcome{statusUnreachable, "unreachable", auth.ErrShuttingDown.Error()}
	case errors.Is(err, auth.ErrUnreachable):
		return outcome{statusUnreachable, "unreachable", auth.ErrUnreachable.Error()}
	default: // auth.ErrServer and anything unexpected
		return outcome{statusError, "error", "the gateway could not complete the request; the details are in its log"}
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
