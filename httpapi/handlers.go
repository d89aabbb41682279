package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// handleAuth serves /auth: validate, check readiness, ask, answer.
func (s *server) handleAuth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		write(w, r, statusOf(errMethodNotAllowed), "", "")
		return
	}
	start := time.Now()
	caller := clientIP(r.RemoteAddr)

	p, err := readParams(w, r, s.maxBody, s.defaultTimeout)
	txn := p.TransactionID
	if txn == "" && !p.TransactionIDGiven {
		// Generated even for a 400: every /auth answer carries an id.
		var genErr error
		if txn, genErr = auth.NewTransactionID(s.ids); genErr != nil {
			s.logger.Error("cannot generate a transaction id", "err", genErr)
			if err == nil {
				err = genErr
			}
		}
	}
	jid := ""
	if p.JID.Local != "" {
		jid = p.JID.String()
	}
	if err != nil {
		o := statusOf(err)
		s.logger.Debug("request refused", "caller", caller, "txn", txn, "outcome", o.status, "detail", o.detail)
		write(w, r, o, txn, jid)
		return
	}

	// Bad input is answered first (400); then a gateway that cannot ask
	// answers 523 at once instead of waiting.
	if err := s.confirmer.Ready(); err != nil {
		if !errors.Is(err, auth.ErrNotConnected) && !errors.Is(err, auth.ErrShuttingDown) {
			err = fmt.Errorf("%w: %w", auth.ErrNotConnected, err)
		}
		s.finish(w, r, err, auth.Decision{}, txn, jid, caller, start)
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
	// The component enforces req.Timeout; r.Context() carries the caller
	// hanging up.
	dec, err := s.confirmer.Confirm(r.Context(), req)
	s.finish(w, r, err, dec, txn, jid, caller, start)
}

// finish answers a request that reached the Confirmer (or its Ready
// check) and logs the decision: one line at info, or at error for an
// unexpected error, whose text goes to the log only.
func (s *server) finish(w http.ResponseWriter, r *http.Request, err error, dec auth.Decision, txn, jid, caller string, start time.Time) {
	o := statusOf(err)
	attrs := []any{"jid", jid, "txn", txn, "outcome", o.status, "code", o.code,
		"elapsed", time.Since(start), "caller", caller}
	switch {
	case o.code == statusCanceled:
		// The caller hung up: nobody reads the answer. Still write a
		// status so a misbehaving Confirmer can never yield an implicit 200.
		s.logger.Debug("caller went away", attrs...)
		w.WriteHeader(statusCanceled)
		return
	case o.code == statusError:
		s.logger.Error("decision", append(attrs, "err", err)...)
	case err == nil:
		s.logger.Info("decision", append(attrs, "path", string(dec.Path))...)
	default:
		s.logger.Info("decision", attrs...)
	}
	write(w, r, o, txn, jid)
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
