package component

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// Real clients and servers, as their code builds the stanza (sources in
// the comments). Namespaces: stz is RFC 6120's; stzTypo is the misspelt
// one of XEP-0070's own examples, copied by several clients.
const (
	stzTypo  = "urn:ietf:params:xml:xmpp-stanzas"
	thread   = "e0ffe42b28561960c6b12b944a092794b9683a38"
	fullConf = "<confirm xmlns='" + NSHTTPAuth + "' id='%[1]s' method='GET' url='https://example.org'/>"
)

// raw builds an answer from a format where %[1]s is the transaction id,
// %[2]s our stanza id and %[3]s our JID (the 'to' of the answer).
func raw(format string) func(q *inStanza, txn string) string {
	return func(q *inStanza, txn string) string { return fmt.Sprintf(format, txn, q.ID, q.From) }
}

// ourCopy is our own message sent back with type='error' and err
// appended, as ejabberd (xmpp:make_error), nbxmpp's Error (Gajim) and
// Twisted's StanzaError.toResponse (Libervia) build it: our id, thread,
// bodies and <confirm/> kept.
func ourCopy(from, attrs, err string) func(q *inStanza, txn string) string {
	return func(q *inStanza, txn string) string {
		var bodies strings.Builder
		for _, b := range q.Bodies {
			fmt.Fprintf(&bodies, "<body>%s</body>", b)
		}
		return fmt.Sprintf("<message type='error' id='%s' from='%s' to='%s' %s><thread>%s</thread>%s%s%s</message>",
			q.ID, from, q.From, attrs, thread, bodies.String(), fmt.Sprintf(fullConf, txn), err)
	}
}

func init() { answerCases = append(answerCases, clientCases...) }

var clientCases = []answerCase{
	// XEP-0070 v1.0.2 (xsf/xeps xep-0070.xml), section 4.5, verbatim
	// shapes; its deny examples misspell the stanzas namespace.
	{name: "XEP-0070 example: iq deny with confirm, code 401, misspelt namespace", to: alicePhone,
		answer: raw("<iq type='error' from='" + alicePhone + "' to='%[3]s' id='%[2]s'>" + fullConf + "<error code='401' type='auth'><not-authorized xmlns='" + stzTypo + "'/></error></iq>"),
		want:   "denied"},
	{name: "XEP-0070 example / Psi (iris): message approve, no type, thread, full confirm", to: alice,
		answer: raw("<message from='" + alice + "/balcony' to='%[3]s'><thread>" + thread + "</thread>" + fullConf + "</message>"),
		want:   "approved", path: auth.PathMessage},
	{name: "XEP-0070 example / Converse.js http-auth plugin: message deny, thread, misspelt namespace", to: alice,
		answer: raw("<message type='error' from='" + alice + "/balcony' to='%[3]s'><thread>" + thread + "</thread>" + fullConf + "<error code='401' type='auth'><not-authorized xmlns='" + stzTypo + "'/></error></message>"),
		want:   "denied"},

	// Gajim (gajim/gajim gajim/common/modules/http_auth.py, nbxmpp
	// protocol.py): Iq.buildReply('result') copies the payload's name and
	// namespace only; Message.buildReply('result') makes 'result' the
	// body; nbxmpp.Error copies the whole stanza, keeps our id and adds a
	// <text/>.
	{name: "Gajim: iq approve with an empty confirm element", to: alicePhone,
		answer: raw("<iq type='result' id='%[2]s' from='" + alicePhone + "' to='%[3]s'><confirm xmlns='" + NSHTTPAuth + "'/></iq>"),
		want:   "approved", path: auth.PathIQ},
	{name: "Gajim: iq deny is our iq copied with the error and a text", to: alicePhone,
		answer: raw("<iq type='error' id='%[2]s' from='" + alicePhone + "' to='%[3]s'>" + fullConf + "<error type='auth'><not-authorized xmlns='" + stz + "'/><text xmlns='" + stz + "'>The sender must provide proper credentials before being allowed to perform the action, or has provided improper credentials.</text></error></iq>"),
		want:   "denied"},
	{name: "Gajim: message approve with body 'result', type normal, thread, our confirm", to: alice,
		answer: raw("<message type='normal' id='gajim-1' from='" + alice + "/gajim' to='%[3]s'><body>result</body><thread>" + thread + "</thread>" + fullConf + "</message>"),
		want:   "approved", path: auth.PathMessage},
	{name: "Gajim: message deny is a copy of our message with error and text", to: alice,
		answer: ourCopy(alice+"/gajim", "", "<error type='auth'><not-authorized xmlns='"+stz+"'/><text xmlns='"+stz+"'>The sender must provide proper credentials.</text></error>"),
		want:   "denied"},

	// Libervia / SàT (plugin_xep_0070.py): Twisted toResponse keeps our
	// id, sets type 'result' even on a message, and copies nothing but
	// the <confirm/>; a deny copies every child and adds code 401.
	{name: "Libervia: message approve of type result with our id, no thread", to: alice,
		answer: raw("<message to='%[3]s' from='" + alice + "/libervia' id='%[2]s' type='result'>" + fullConf + "</message>"),
		want:   "approved", path: auth.PathMessage},
	{name: "Libervia: message deny copies our message, error code 401", to: alice,
		answer: ourCopy(alice+"/libervia", "", "<error type='auth' code='401'><not-authorized xmlns='"+stz+"'/></error>"),
		want:   "denied"},

	// Psi / Psi+ (psi-im/psi src/httpauthmanager.cpp, iris
	// HttpAuthRequest::toXml): the iq answer carries the full confirm.
	{name: "Psi: iq approve with the full confirm", to: alicePhone,
		answer: raw("<iq type='result' to='%[3]s' id='%[2]s' from='" + alicePhone + "'>" + fullConf + "</iq>"),
		want:   "approved", path: auth.PathIQ},
	{name: "Psi: message deny, error before thread and confirm, new id", to: alice,
		answer: raw("<message type='error' to='%[3]s' id='ab1fa' from='" + alice + "/psi'><error type='auth' code='401'><not-authorized xmlns='" + stz + "'/></error><thread>" + thread + "</thread>" + fullConf + "</message>"),
		want:   "denied"},

	// aTalk (cmeng-git/atalk-android HTTPAuthorizationRequestManager.java,
	// Smack): EmptyResultIQ; the iq deny drops the confirm.
	{name: "aTalk (Smack): iq deny, error type auth, no confirm", to: alicePhone,
		answer: iqReply("error", alicePhone, "<error type='auth'><not-authorized xmlns='"+stz+"'/></error>"),
		want:   "denied"},

	// Exodus (TConfirmationResponder): bare error, misspelt namespace.
	{name: "Exodus: iq deny without confirm, misspelt namespace", to: alicePhone,
		answer: iqReply("error", alicePhone, "<error code='401' type='auth'><not-authorized xmlns='"+stzTypo+"'/></error>"),
		want:   "denied"},

	// slixmpp (poezio/slixmpp plugins/xep_0070, stanza/rootstanza.py):
	// the plugin only raises events; raising XMPPError answers with type
	// cancel and, for a message, keeps our id but clears the children.
	{name: "slixmpp: raise XMPPError('not-authorized') on the iq", to: alicePhone,
		answer: iqError(alicePhone, "not-authorized", stz), want: "denied"},
	{name: "slixmpp: a handler that crashes answers undefined-condition", to: alicePhone,
		answer: iqReply("error", alicePhone, "<error type='cancel'><undefined-condition xmlns='"+stz+"'/><text xmlns='"+stz+"'>Slixmpp got into trouble.</text></error>"),
		want:   "server"},
	{name: "slixmpp: raise XMPPError on the message keeps our id, drops the confirm", to: alice,
		answer: raw("<message type='error' id='%[2]s' to='%[3]s' from='" + alice + "/bot'><thread>" + thread + "</thread><origin-id xmlns='urn:xmpp:sid:0' id='%[2]s'/><error type='cancel'><not-authorized xmlns='" + stz + "'/></error></message>"),
		want:   "denied"},

	// Jappix (jappix/jappix js/httpauth.js): answers only the message
	// form, no thread, and denies with an error that has no condition.
	{name: "Jappix: message deny, error code 401 without condition, no thread", to: alice,
		answer: raw("<message to='%[3]s' from='" + alice + "/jappix' id='j1' type='error'><error code='401' type='auth'/>" + fullConf + "</message>"),
		want:   "denied"},

	// Movim (movim/movim src/Moxl/Stanza/Confirm.php): always a message,
	// no thread; the deny puts the error inside <confirm/>, where it
	// inherits the http-auth namespace, with the misspelt condition
	// namespace. Movim answers an iq request this way too.
	{name: "Movim: message deny, error inside confirm, misspelt namespace", to: alice,
		answer: raw("<message to='%[3]s' from='" + alice + "/movim' type='error'><confirm xmlns='" + NSHTTPAuth + "' id='%[1]s' url='https://example.org' method='GET'><error code='401' type='auth'><not-authorized xmlns='" + stzTypo + "'/></error></confirm></message>"),
		want:   "denied"},
	{name: "Movim: message approve answering an iq request", to: alicePhone,
		answer: raw("<message to='%[3]s' from='" + alice + "/movim'><confirm xmlns='" + NSHTTPAuth + "' id='%[1]s' url='https://example.org' method='GET'/></message>"),
		want:   "approved", path: auth.PathIQ},

	// Clients without XEP-0070 refuse the iq (RFC 6120 8.4), then show
	// the message; the person types the code back in a chat message.
	// Conversations (IqParser.java; Cheogram and Monocles are forks) says
	// feature-not-implemented; Dino (xmpp-vala iq/module.vala)
	// service-unavailable.
	{name: "Conversations/Cheogram/Monocles: feature-not-implemented, then the code in a chat", to: alicePhone,
		answer: raw("<iq type='error' id='%[2]s' to='%[3]s' from='" + alicePhone + "'><error type='cancel'><feature-not-implemented xmlns='" + stz + "'/></error></iq>"),
		then:   raw("<message type='chat' id='c0ffee' to='%[3]s' from='" + alice + "/Conversations.x1y2'><body>%[1]s</body><origin-id xmlns='urn:xmpp:sid:0' id='c0ffee'/><request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>"),
		want:   "approved", path: auth.PathFallback},
	{name: "Dino: service-unavailable, then the code in a chat from another device", to: alicePhone,
		answer: raw("<iq type='error' id='%[2]s' to='%[3]s' from='" + alicePhone + "'><error type='cancel'><service-unavailable xmlns='" + stz + "'/></error></iq>"),
		then:   raw("<message type='chat' id='d1' to='%[3]s' from='" + alice + "/dino.abcd'><body>%[1]s</body><markable xmlns='urn:xmpp:chat-markers:0'/></message>"),
		want:   "approved", path: auth.PathFallback},
	// A 2017 development version of Dino misspelt the condition: an
	// unknown condition denies (SPEC 3 rule 3), no fallback.
	{name: "Dino (2017 dev): misspelt service-unaviable denies", to: alicePhone,
		answer: iqReply("error", alicePhone, "<error type='cancel'><service-unaviable xmlns='"+stz+"'/></error>"),
		want:   "denied"},
	{name: "chat state alone is no answer", to: alice,
		answer: raw("<message type='chat' to='%[3]s' from='" + alice + "/x'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>"),
		want:   "ignored"},
	{name: "delivery receipt for our message is no answer", to: alice,
		answer: raw("<message id='r1' to='%[3]s' from='" + alice + "/x'><received xmlns='urn:xmpp:receipts' id='%[2]s'/></message>"),
		want:   "ignored"},
	{name: "'OK' as the XEP-0070 example body suggests is no answer", to: alice,
		answer: raw("<message type='chat' to='%[3]s' from='" + alice + "/x'><thread>" + thread + "</thread><body>OK</body></message>"),
		want:   "ignored"},

	// Servers. Prosody 0.12 (st.error_reply): only the error, with 'by';
	// mod_smacks bounces what a vanished session never acknowledged with
	// recipient-unavailable. ejabberd (xmpp:make_error via
	// bounce_sm_packet): a copy of the stanza, error appended with a text.
	{name: "Prosody: iq to an offline resource, then the message bounces", to: alicePhone,
		answer: raw("<iq type='error' id='%[2]s' from='" + alicePhone + "' to='%[3]s'><error type='cancel' by='localhost'><service-unavailable xmlns='" + stz + "'/></error></iq>"),
		then:   raw("<message type='error' id='%[2]s' from='" + alice + "' to='%[3]s'><error type='cancel' by='localhost'><service-unavailable xmlns='" + stz + "'/></error></message>"),
		want:   "unreachable"},
	{name: "Prosody mod_smacks: unacknowledged message bounced recipient-unavailable", to: alice,
		answer: raw("<message type='error' id='%[2]s' from='" + alice + "' to='%[3]s'><error type='cancel'><recipient-unavailable xmlns='" + stz + "'/></error></message>"),
		want:   "unreachable"},
	{name: "ejabberd: iq copy with service-unavailable falls back, then the message copy bounces", to: alicePhone,
		answer: raw("<iq type='error' id='%[2]s' from='" + alicePhone + "' to='%[3]s'>" + fullConf + "<error type='cancel'><service-unavailable xmlns='" + stz + "'/><text xml:lang='en' xmlns='" + stz + "'>User session not found</text></error></iq>"),
		then:   ourCopy(alice, "xml:lang='en'", "<error type='cancel'><service-unavailable xmlns='"+stz+"'/><text xml:lang='en' xmlns='"+stz+"'>User session not found</text></error>"),
		want:   "unreachable"},

	// Forged: bob is the sender. Prosody 0.12.3 relays namespaced
	// attributes as it got them, in table order; these are the stanzas
	// it actually delivered to a component in a test (bob's client had
	// added ns1:from or xml:from). encoding/xml would fill a "from,attr"
	// field from any of them, the last one winning.
	{name: "forged: Prosody-relayed code with a namespaced from after the real one", to: alice,
		answer: raw("<message to='%[3]s' from='bob@localhost/x' xml:lang='en' xmlns:ns1='urn:x' ns1:from='" + alice + "/x'><body>%[1]s</body></message>"),
		want:   "ignored"},
	{name: "forged: Prosody-relayed confirm with xml:from", to: alice,
		answer: raw("<message to='%[3]s' from='bob@localhost/x' xmlns:ns1='http://www.w3.org/XML/1998/namespace' ns1:from='" + alice + "/x'>" + fullConf + "</message>"),
		want:   "ignored"},
	{name: "forged: Prosody-relayed iq result with a namespaced from", to: alicePhone,
		answer: raw("<iq to='%[3]s' xml:lang='en' from='bob@localhost/x' xmlns:ns1='urn:q' ns1:from='" + alicePhone + "' type='result' id='%[2]s'/>"),
		want:   "ignored"},
	{name: "forged: a second from attribute", to: alice,
		answer: raw("<message to='%[3]s' from='bob@localhost/x' from='" + alice + "/x'><body>%[1]s</body></message>"),
		want:   "ignored"},
	{name: "forged: Libervia-style approve with our id from another user", to: alice,
		answer: raw("<message to='%[3]s' from='bob@localhost/libervia' id='%[2]s' type='result'>" + fullConf + "</message>"),
		want:   "ignored"},
	{name: "forged: ejabberd-style copy bounce from another user", to: alice,
		answer: ourCopy("bob@localhost", "", "<error type='cancel'><service-unavailable xmlns='"+stz+"'/></error>"),
		want:   "ignored"},
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
