package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// handleAuth serves /auth. The checks run in this order, so the same
// request always gets the same answer and each costs the gateway as little
// as it can: method (405, checked by the route: allowMethods), API key
// (403, before anything else is read, so a caller without a key learns
// nothing), parameters (400, 413), the caller's rate (429), readiness
// (523), then the pending requests in all, those of the JID and the JID's
// rate (429), and only then the person is asked.
//
// Every answer past the method check is counted in the metrics: a refusal
// by its reason, a request the person was asked about by its outcome and
// delivery path.
func (s *server) handleAuth(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	caller := clientIP(r.RemoteAddr)
	rateKey := callerKey(caller)
	if s.keys != nil {
		id, reason := s.keys.check(r.Header.Values("Authorization"))
		if reason != "" {
			s.forbid(w, r, caller, reason)
			return
		}
		caller, rateKey = id, id
	}

	p, err := readParams(w, r, s.maxBody, s.defaultTimeout)
	txn, genErr := s.transactionID(p)
	if err == nil {
		err = genErr
	}
	jid := ""
	if p.JID.Local != "" {
		jid = p.JID.String()
	}
	if err != nil {
		o := statusOf(err)
		s.logger.Debug("request refused", "caller", caller, "txn", txn, "outcome", o.status, "detail", o.detail)
		s.metrics.refusal(o, "")
		write(w, r, o, txn, jid)
		return
	}

	if err := s.limiter.AllowCaller(rateKey); err != nil {
		s.refuse(w, r, err, txn, jid, caller)
		return
	}
	// A gateway that cannot ask answers 523 at once instead of waiting,
	// before a JID's token is spent on a question never sent.
	if err := s.confirmer.Ready(); err != nil {
		if !errors.Is(err, auth.ErrNotConnected) && !errors.Is(err, auth.ErrShuttingDown) {
			err = fmt.Errorf("%w: %w", auth.ErrNotConnected, err)
		}
		s.finish(w, r, err, auth.Decision{}, txn, jid, caller, start)
		return
	}
	release, err := s.limiter.Acquire(p.JID.Bare(), p.Timeout)
	if err != nil {
		s.refuse(w, r, err, txn, jid, caller)
		return
	}

	req := auth.Request{
		JID:           p.JID,
		TransactionID: txn,
		Method:        p.Method,
		URL:           p.URL,
		Timeout:       p.Timeout,
		Caller:        caller,
	}
	asked := s.metrics.asking()
	// end answers once the person answered (or the request ended
	// otherwise); the slot is released before the answer is written, so
	// a caller that has its answer finds it free. release may be called
	// twice.
	end := func(w http.ResponseWriter, r *http.Request, dec auth.Decision, err error) {
		asked()
		release()
		s.finish(w, r, err, dec, txn, jid, caller, start)
	}
	// The component enforces req.Timeout; r.Context() carries the caller
	// hanging up.
	if a, ok := s.confirmer.(Asker); ok && s.parkAfter >= 0 {
		parked := false
		defer func() {
			if !parked { // a panicking Asker; once parked, end releases
				release()
			}
		}()
		parked = s.ask(w, r, a, req, end)
		return
	}
	defer release() // a panicking Confirmer
	dec, err := s.confirmer.Confirm(r.Context(), req)
	end(w, r, dec, err)
}

// transactionID returns the id an answer carries: the caller's when given
// and valid, none when given but invalid (a 400 never pairs an invalid id
// with a generated one), else a new one. The error is the generator's.
func (s *server) transactionID(p params) (string, error) {
	if p.TransactionID != "" || p.TransactionIDGiven {
		return p.TransactionID, nil
	}
	txn, err := auth.NewTransactionID(s.ids)
	if err != nil {
		s.logger.Error("cannot generate a transaction id", "err", err)
	}
	return txn, err
}

// forbid answers a request without a valid API key: 403. Its parameters
// are not read, but for a transaction id in the query string, so the
// answer carries X-Transaction-Id like every other. The key, right or
// wrong, is never logged.
func (s *server) forbid(w http.ResponseWriter, r *http.Request, caller, reason string) {
	if r.ContentLength != 0 {
		// The body stays unread: close rather than read it to reuse the
		// connection.
		w.Header().Set("Connection", "close")
	}
	p, _ := parseParams(r.URL.RawQuery, "", s.defaultTimeout)
	txn, _ := s.transactionID(p)
	o := statusOf(errForbidden)
	s.logger.Info("request refused: no valid API key", "caller", caller, "txn", txn, "outcome", o.status, "reason", reason)
	s.metrics.refusal(o, "")
	write(w, r, o, txn, "")
}

// refuse answers a request refused by a limit: 429 with Retry-After, and a
// warning naming the limit.
func (s *server) refuse(w http.ResponseWriter, r *http.Request, err error, txn, jid, caller string) {
	o := statusOf(err)
	limit := ""
	if le, ok := errors.AsType[*LimitError](err); ok {
		limit = le.Limit
	}
	s.logger.Warn("rate limited", "jid", jid, "txn", txn, "caller", caller, "limit", limit,
		"outcome", o.status, "code", o.code, "retry_after", o.retryAfter)
	s.metrics.refusal(o, limit)
	write(w, r, o, txn, jid)
}

// finish answers a request that reached the Confirmer (or its Ready
// check) and logs the decision: one audit line, msg "decision", at info,
// or at error for an unexpected error, whose text goes to the log only.
// Its attributes are stable, for operators to grep: jid, txn, caller,
// outcome, path (iq, message or fallback: whenever the Confirmer reports
// how it asked, whatever the outcome), code and elapsed.
//
// A request the person was never asked about (a conflict; the gateway not
// connected, or shutting down, before anything was sent) counts as a
// refusal in the metrics; the others as decided, with their latency.
func (s *server) finish(w http.ResponseWriter, r *http.Request, err error, dec auth.Decision, txn, jid, caller string, start time.Time) {
	o := statusOf(err)
	elapsed := s.now().Sub(start)
	// Counted before the answer leaves, so a scrape that follows an answer
	// sees it.
	if errors.Is(err, auth.ErrConflict) || (dec.Path == "" && o.reason != "") {
		s.metrics.refusal(o, "")
	} else {
		s.metrics.decided(o, string(dec.Path), elapsed)
	}
	if o.code == statusCanceled {
		// The caller hung up: nobody reads the answer. Still write a
		// status so a misbehaving Confirmer can never yield an implicit 200.
		w.WriteHeader(statusCanceled)
	} else {
		write(w, r, o, txn, jid)
		// The answer leaves now, not when the handler returns: the caller
		// does not wait for the log line below.
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	level, msg := slog.LevelInfo, "decision"
	switch o.code {
	case statusCanceled:
		level, msg = slog.LevelDebug, "caller went away"
	case statusError:
		level = slog.LevelError
	}
	if s.logger.Enabled(context.Background(), level) {
		// Typed attributes, in a fixed array: no boxing, no growth.
		var attrs [8]slog.Attr
		a := append(attrs[:0], slog.String("jid", jid), slog.String("txn", txn), slog.String("caller", caller), slog.String("outcome", o.status))
		if dec.Path != "" {
			a = append(a, slog.String("path", string(dec.Path)))
		}
		a = append(a, slog.Int("code", o.code), slog.Duration("elapsed", elapsed))
		if level == slog.LevelError {
			a = append(a, slog.Any("err", err))
		}
		s.logger.LogAttrs(context.Background(), level, msg, a...)
	}
}

// handleNotFound answers every path the API does not have.
func (s *server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	write(w, r, statusOf(errNotFound), "", "")
}

// clientIP returns the address part of r.RemoteAddr ("ip:port").
func clientIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}
