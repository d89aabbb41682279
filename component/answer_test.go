package component

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

const stz = "urn:ietf:params:xml:ns:xmpp-stanzas"

// answerCase is one answer shape: q is what the gateway sent, the result
// is the XML the "person" (or a forger) sends back.
type answerCase struct {
	name   string
	to     string // the JID asked: full = iq, bare = message
	answer func(q *inStanza, txn string) string
	// then, for the fallback: the answer to the message that follows.
	then func(q *inStanza, txn string) string
	want string // approved, denied, timeout-free "ignored", unreachable, server
	path auth.Path
}

func iqReply(typ, from, inner string) func(q *inStanza, txn string) string {
	return func(q *inStanza, txn string) string {
		return fmt.Sprintf("<iq type='%s' id='%s' from='%s' to='%s'>%s</iq>", typ, q.ID, from, q.From, inner)
	}
}

func iqError(from, cond, ns string) func(q *inStanza, txn string) string {
	return iqReply("error", from, fmt.Sprintf("<error type='cancel'><%s xmlns='%s'/></error>", cond, ns))
}

func msgReply(from, attrs, inner string) func(q *inStanza, txn string) string {
	return func(q *inStanza, txn string) string {
		return fmt.Sprintf("<message from='%s' to='%s' %s>%s</message>", from, q.From, attrs, fmt.Sprintf(inner, txn))
	}
}

// bounce echoes our message id, like Prosody (error only) or ejabberd
// (a copy of our message, <confirm/> included).
func bounce(from, cond string, copyConfirm bool) func(q *inStanza, txn string) string {
	return func(q *inStanza, txn string) string {
		inner := fmt.Sprintf("<error type='cancel'><%s xmlns='%s'/></error>", cond, stz)
		if copyConfirm {
			inner = fmt.Sprintf("<body>x</body><confirm xmlns='%s' id='%s' method='GET' url='u'/>", NSHTTPAuth, txn) + inner
		}
		return fmt.Sprintf("<message type='error' id='%s' from='%s' to='%s'>%s</message>", q.ID, from, q.From, inner)
	}
}

const (
	alicePhone = "alice@localhost/phone"
	alice      = "alice@localhost"
	confirmEl  = "<confirm xmlns='" + NSHTTPAuth + "' id='%s' method='GET' url='https://example.org'/>"
)

var answerCases = []answerCase{
	// iq to a full JID
	{name: "iq result empty", to: alicePhone, answer: iqReply("result", alicePhone, ""), want: "approved", path: auth.PathIQ},
	{name: "iq result with confirm", to: alicePhone, answer: iqReply("result", alicePhone, "<confirm xmlns='"+NSHTTPAuth+"' id='x'/>"), want: "approved", path: auth.PathIQ},
	{name: "iq result from JID spelled in capitals", to: alicePhone, answer: iqReply("result", "Alice@LOCALHOST/phone", ""), want: "approved", path: auth.PathIQ},
	{name: "iq error not-authorized (XEP-0070 deny)", to: alicePhone, answer: iqReply("error", alicePhone, "<confirm xmlns='"+NSHTTPAuth+"' id='x'/><error code='401' type='auth'><not-authorized xmlns='"+stz+"'/></error>"), want: "denied"},
	{name: "iq error condition in another namespace", to: alicePhone, answer: iqError(alicePhone, "not-authorized", "jabber:client"), want: "denied"},
	{name: "iq error with no condition", to: alicePhone, answer: iqReply("error", alicePhone, "<error type='cancel'/>"), want: "denied"},
	{name: "iq type error without error element", to: alicePhone, answer: iqReply("error", alicePhone, ""), want: "denied"},
	{name: "iq result carrying an error", to: alicePhone, answer: iqReply("result", alicePhone, "<error type='auth'><forbidden xmlns='"+stz+"'/></error>"), want: "denied"},
	{name: "iq error forbidden", to: alicePhone, answer: iqError(alicePhone, "forbidden", stz), want: "denied"},
	{name: "iq error policy-violation", to: alicePhone, answer: iqError(alicePhone, "policy-violation", stz), want: "denied"},
	{name: "iq error item-not-found", to: alicePhone, answer: iqError(alicePhone, "item-not-found", stz), want: "unreachable"},
	{name: "iq error item-not-found spelled in jabber:client", to: alicePhone, answer: iqError(alicePhone, "item-not-found", "jabber:client"), want: "unreachable"},
	{name: "iq error recipient-unavailable", to: alicePhone, answer: iqError(alicePhone, "recipient-unavailable", stz), want: "unreachable"},
	{name: "iq error remote-server-not-found", to: alicePhone, answer: iqError(alicePhone, "remote-server-not-found", stz), want: "unreachable"},
	{name: "iq error remote-server-timeout", to: alicePhone, answer: iqError(alicePhone, "remote-server-timeout", stz), want: "unreachable"},
	{name: "iq error gone", to: alicePhone, answer: iqError(alicePhone, "gone", stz), want: "unreachable"},
	{name: "iq error internal-server-error", to: alicePhone, answer: iqError(alicePhone, "internal-server-error", stz), want: "server"},
	{name: "iq error resource-constraint", to: alicePhone, answer: iqError(alicePhone, "resource-constraint", stz), want: "server"},
	{name: "iq error undefined-condition", to: alicePhone, answer: iqError(alicePhone, "undefined-condition", stz), want: "server"},
	{name: "iq service-unavailable falls back to message, approved", to: alicePhone, answer: iqError(alicePhone, "service-unavailable", stz),
		then: msgReply(alice+"/phone", "type='normal'", confirmEl), want: "approved", path: auth.PathFallback},
	{name: "iq feature-not-implemented falls back, then bounce", to: alicePhone, answer: iqError(alicePhone, "feature-not-implemented", stz),
		then: bounce(alice, "service-unavailable", false), want: "unreachable"},
	{name: "message answer to an iq request", to: alicePhone, answer: msgReply(alice+"/laptop", "", confirmEl), want: "approved", path: auth.PathIQ},
	{name: "plain-text code answering an iq request", to: alicePhone, answer: msgReply(alice+"/laptop", "type='chat'", "<body> %s </body>"), want: "approved", path: auth.PathIQ},

	// forged or misaddressed answers to an iq: never approve
	{name: "forged iq result from another resource", to: alicePhone, answer: iqReply("result", alice+"/laptop", ""), want: "ignored"},
	{name: "forged iq result from the bare JID", to: alicePhone, answer: iqReply("result", alice, ""), want: "ignored"},
	{name: "forged iq result from another user", to: alicePhone, answer: iqReply("result", "bob@localhost/phone", ""), want: "ignored"},
	{name: "forged iq result, resource in other case", to: alicePhone, answer: iqReply("result", "alice@localhost/Phone", ""), want: "ignored"},
	{name: "forged iq result with an unknown id", to: alicePhone, answer: func(q *inStanza, txn string) string {
		return fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", q.ID+"x", alicePhone, q.From)
	}, want: "ignored"},
	{name: "forged message confirm from another user", to: alicePhone, answer: msgReply("bob@localhost/phone", "", confirmEl), want: "ignored"},
	{name: "forged plain-text code from another user", to: alicePhone, answer: msgReply("bob@localhost/phone", "type='chat'", "<body>%s</body>"), want: "ignored"},
	{name: "forged iq error from another user", to: alicePhone, answer: iqError("bob@localhost/phone", "item-not-found", stz), want: "ignored"},

	// message to a bare JID
	{name: "message normal with thread", to: alice, answer: func(q *inStanza, txn string) string {
		return fmt.Sprintf("<message type='normal' from='%s/phone' to='%s'><thread>%s</thread>"+confirmEl+"</message>", alice, q.From, "t", txn)
	}, want: "approved", path: auth.PathMessage},
	{name: "message chat without thread", to: alice, answer: msgReply(alice+"/phone", "type='chat'", confirmEl), want: "approved", path: auth.PathMessage},
	{name: "message without type", to: alice, answer: msgReply(alice+"/phone", "", confirmEl), want: "approved", path: auth.PathMessage},
	{name: "message of type result", to: alice, answer: msgReply(alice+"/phone", "type='result'", confirmEl), want: "approved", path: auth.PathMessage},
	{name: "message from the bare JID", to: alice, answer: msgReply(alice, "", confirmEl), want: "approved", path: auth.PathMessage},
	{name: "message confirm with other method and url", to: alice, answer: msgReply(alice+"/x", "", "<confirm xmlns='"+NSHTTPAuth+"' id='%s' method='POST' url='other'/>"), want: "approved", path: auth.PathMessage},
	{name: "message confirm without method and url", to: alice, answer: msgReply(alice+"/x", "", "<confirm xmlns='"+NSHTTPAuth+"' id='%s'/>"), want: "approved", path: auth.PathMessage},
	{name: "message deny (XEP-0070 error message)", to: alice, answer: msgReply(alice+"/phone", "type='error'", confirmEl+"<error code='401' type='auth'><not-authorized xmlns='"+stz+"'/></error>"), want: "denied"},
	{name: "message error inside confirm", to: alice, answer: msgReply(alice+"/phone", "", "<confirm xmlns='"+NSHTTPAuth+"' id='%s'><error type='auth'><not-authorized xmlns='"+stz+"'/></error></confirm>"), want: "denied"},
	{name: "message type error with confirm, no error element", to: alice, answer: msgReply(alice+"/phone", "type='error'", confirmEl), want: "denied"},
	{name: "plain-text code", to: alice, answer: msgReply(alice+"/phone", "type='chat'", "<body>%s</body>"), want: "approved", path: auth.PathMessage},
	{name: "plain-text code padded", to: alice, answer: msgReply(alice+"/phone", "type='chat'", "<body>\n  %s  \n</body>"), want: "approved", path: auth.PathMessage},
	{name: "Prosody bounce: service-unavailable", to: alice, answer: bounce(alice, "service-unavailable", false), want: "unreachable"},
	{name: "Prosody bounce: item-not-found", to: alice, answer: bounce(alice, "item-not-found", false), want: "unreachable"},
	{name: "ejabberd bounce: copy with confirm", to: alice, answer: bounce(alice, "service-unavailable", true), want: "unreachable"},
	{name: "bounce remote-server-not-found", to: alice, answer: bounce(alice, "remote-server-not-found", false), want: "unreachable"},
	{name: "bounce internal-server-error", to: alice, answer: bounce(alice, "internal-server-error", false), want: "server"},

	// forged or unrelated answers to a message: never approve
	{name: "forged message confirm from another user", to: alice, answer: msgReply("bob@localhost/phone", "", confirmEl), want: "ignored"},
	{name: "forged message confirm from alice's domain", to: alice, answer: msgReply("localhost", "", confirmEl), want: "ignored"},
	{name: "forged plain-text code from another user", to: alice, answer: msgReply("bob@localhost", "type='chat'", "<body>%s</body>"), want: "ignored"},
	{name: "forged bounce from another user", to: alice, answer: bounce("bob@localhost", "item-not-found", false), want: "ignored"},
	{name: "confirm with an unknown id", to: alice, answer: msgReply(alice+"/phone", "", "<confirm xmlns='"+NSHTTPAuth+"' id='%sX'/>"), want: "ignored"},
	{name: "wrong plain-text code", to: alice, answer: msgReply(alice+"/phone", "type='chat'", "<body>%s1</body>"), want: "ignored"},
	{name: "thread alone correlates nothing", to: alice, answer: func(q *inStanza, txn string) string {
		return fmt.Sprintf("<message type='chat' from='%s/phone' to='%s'><thread>t</thread><body>yes</body></message>", alice, q.From)
	}, want: "ignored"},
	{name: "iq result carrying our message id", to: alice, answer: iqReply("result", alice+"/phone", ""), want: "ignored"},
	{name: "chat message echoing our id without error", to: alice, answer: func(q *inStanza, txn string) string {
		return fmt.Sprintf("<message type='chat' id='%s' from='%s/phone' to='%s'><body>ok</body></message>", q.ID, alice, q.From)
	}, want: "ignored"},
}

func TestAnswers(t *testing.T) {
	fs := newFakeServer(t, "s3cret")
	g := startGateway(t, fs, nil)
	fc := fs.conn(t)
	waitReady(t, g)
	for i, tc := range answerCases {
		t.Run(tc.name, func(t *testing.T) {
			jid, err := auth.ParseJID(tc.to)
			if err != nil {
				t.Fatal(err)
			}
			txn := fmt.Sprintf("T%03dabc", i)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type res struct {
				d   auth.Decision
				err error
			}
			done := make(chan res, 1)
			go func() {
				d, err := g.Confirm(ctx, auth.Request{JID: jid, TransactionID: txn, Method: "GET", URL: "https://example.org", Timeout: time.Minute})
				done <- res{d, err}
			}()
			q := fc.expect(t)
			fc.send(t, tc.answer(q, txn))
			if tc.then != nil {
				q2 := fc.expect(t)
				if q2.XMLName.Local != "message" || q2.To != jid.Bare() || q2.Confirm == nil || q2.Confirm.ID != txn {
					t.Fatalf("fallback: want a message with the confirm to %s, got %+v", jid.Bare(), q2)
				}
				fc.send(t, tc.then(q2, txn))
			}
			if tc.want == "ignored" {
				fc.sync(t)
				cancel()
			}
			var r res
			select {
			case r = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("no decision")
			}
			got := outcomeName(r.err)
			want := tc.want
			if want == "ignored" {
				want = "canceled"
			}
			if got != want {
				t.Fatalf("got %s (%v), want %s", got, r.err, want)
			}
			if tc.path != "" && r.d.Path != tc.path {
				t.Fatalf("path %q, want %q", r.d.Path, tc.path)
			}
			if g.Pending() != 0 {
				t.Fatalf("%d requests left pending", g.Pending())
			}
		})
	}
}

func outcomeName(err error) string {
	switch {
	case err == nil:
		return "approved"
	case errors.Is(err, auth.ErrDenied):
		return "denied"
	case errors.Is(err, auth.ErrUnreachable):
		return "unreachable"
	case errors.Is(err, auth.ErrServer):
		return "server"
	case errors.Is(err, auth.ErrCanceled):
		return "canceled"
	case errors.Is(err, auth.ErrTimeout):
		return "timeout"
	case errors.Is(err, auth.ErrNotConnected):
		return "not-connected"
	case errors.Is(err, auth.ErrConflict):
		return "conflict"
	case errors.Is(err, auth.ErrShuttingDown):
		return "shutting-down"
	}
	return "other: " + err.Error()
}
