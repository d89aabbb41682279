package auth

import (
	"errors"
	"time"
)

// Request is one question to a person: "may METHOD on URL go ahead, with
// code TransactionID?". Its fields have been validated by the caller.
type Request struct {
	// JID is the person asked. A full JID is asked with an iq, a bare JID
	// with a message.
	JID JID
	// TransactionID is the code shown to the person (given or generated).
	TransactionID string
	// Method is the HTTP method being authorised.
	Method string
	// URL is what is asked for: a site name or a full URL.
	URL string
	// Timeout is how long to wait for the person.
	Timeout time.Duration
	// Caller names who asked (an API key's name or the client address), for
	// logs only.
	Caller string
}

// Path says how a request was delivered.
type Path string

// The delivery paths.
const (
	PathIQ       Path = "iq"       // an iq to a full JID
	PathMessage  Path = "message"  // a message to a bare JID
	PathFallback Path = "fallback" // an iq refused, then a message
)

// Decision tells how a request was delivered. A Confirmer returns it with
// approvals and, where the request was sent, with the other outcomes too
// (for the audit log); Path is empty when nothing was sent.
type Decision struct {
	Path Path
}

// Pending is a request that was sent and waits for its answer, with
// nothing blocked meanwhile. Its methods are safe for concurrent use.
type Pending interface {
	// Done is closed once the request has ended (answered, timed out,
	// cancelled, or ended by a shutdown).
	Done() <-chan struct{}
	// Notify calls f once the request has ended, at once if it has; f
	// must not block.
	Notify(f func())
	// Cancel ends the request as cancelled by the caller (ErrCanceled),
	// unless it has ended.
	Cancel()
	// Result is the outcome, once Done is closed: as a Confirmer's.
	Result() (Decision, error)
}

// Outcomes a caller branches on. Every error returned by a Confirmer wraps
// exactly one of them (errors.Is); any other error is unexpected (520).
var (
	// ErrDenied: the person refused (or answered with an error that means no).
	ErrDenied = errors.New("the person refused the request")
	// ErrTimeout: no answer before the deadline.
	ErrTimeout = errors.New("no answer in time")
	// ErrUnreachable: the person or their server cannot be reached.
	ErrUnreachable = errors.New("the person cannot be reached")
	// ErrNotConnected: the gateway has no stream to its XMPP server.
	ErrNotConnected = errors.New("the gateway is not connected to its XMPP server")
	// ErrShuttingDown: the gateway is stopping.
	ErrShuttingDown = errors.New("the gateway is shutting down")
	// ErrConflict: the same transaction id is already pending for this JID.
	ErrConflict = errors.New("this transaction id is already pending for this JID")
	// ErrServer: the XMPP server answered with an internal error.
	ErrServer = errors.New("the XMPP server reported an error")
	// ErrCanceled: the caller went away before the answer.
	ErrCanceled = errors.New("the caller cancelled the request")
)

// Text is one human-readable message body in one language.
type Text struct {
	Lang string
	Body string
}
