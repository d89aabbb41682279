package component

import (
	"bytes"
	"encoding/xml"
	"io"
	"net"
	"testing"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// answerSeeds are the seeds of FuzzAnswer (and of the decoder's
// differential tests).
var answerSeeds = []string{
	"<iq type='result' id='IQID' from='alice@localhost/phone'/>",
	"<iq type='result' id='IQID' from='alice@localhost/laptop'/>",
	"<iq type='result' id='IQID' from='bob@localhost/phone'/>",
	"<iq type='error' id='IQID' from='alice@localhost/phone'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
	"<message from='alice@localhost/x'><confirm xmlns='http://jabber.org/protocol/http-auth' id='CODE2'/></message>",
	"<message from='bob@localhost/x'><confirm xmlns='http://jabber.org/protocol/http-auth' id='CODE2'/></message>",
	"<message from='alice@localhost' type='error' id='MSGID'><error><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
	"<message from='bob@localhost' type='error' id='MSGID'><error><item-not-found/></error></message>",
	"<message from='alice@localhost/x' type='chat'><body> code1 </body></message>",
	"<message from='ALICE@LocalHost/x'><body>CODE2</body></message>",
	"<message from='bob@localhost/x'><body>CODE1</body></message>",
	"<message from='alice@localhost/x'><confirm id='CODE1'><error type='auth'><not-authorized/></error></confirm></message>",
	"<iq type='get' id='q' from='bob@localhost/x'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
	"<presence type='subscribe' from='bob@localhost'/>",
	"<message from='alice@localhost@evil/x'><body>CODE1</body></message>",
	"<message from='alice@localhost\u0000/x'><body>CODE1</body></message>",
	// The sender is the unqualified from attribute only.
	"<message from='bob@localhost/x' xmlns:ns1='urn:x' ns1:from='alice@localhost/x'><body>CODE1</body></message>",
	"<message from='bob@localhost/x' xml:from='alice@localhost/x'><confirm xmlns='http://jabber.org/protocol/http-auth' id='CODE2'/></message>",
	"<iq type='result' id='IQID' from='bob@localhost/x' xmlns:q='urn:q' q:from='alice@localhost/phone'/>",
	"<iq type='result' id='x' q:id='IQID' from='alice@localhost/phone' xmlns:q='urn:q'/>",
	"<message from='bob@localhost/x' from='alice@localhost/x'><body>CODE1</body></message>",
}

// FuzzAnswer feeds raw stanzas to the answer path with two requests
// pending for alice: an iq to alice@localhost/phone and a message to
// alice@localhost. Whatever the bytes, nothing panics, and nothing sent
// from another JID decides either request; an iq-path decision needs the
// exact full JID.
func FuzzAnswer(f *testing.F) {
	for _, s := range answerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, err := parseStanza(raw)
		if err != nil {
			return
		}
		g := New(Options{Domain: "auth.localhost"})
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		go func() { _, _ = io.Copy(io.Discard, b) }()
		s := newStream(a, &g.opts)
		iqTxn, _ := g.txns.add("CODE1", "alice@localhost")
		g.txns.bindIQ(iqTxn, "IQID", "alice@localhost/phone")
		msgTxn, _ := g.txns.add("CODE2", "alice@localhost")
		g.txns.bindMessage(msgTxn, "MSGID")

		g.handle(s, in)

		// Who sent it, read from the bytes independently of the decoder
		// under test: the one unqualified from attribute (a server
		// stamps it; anything else in the stanza is the sender's).
		sender, once := unqualifiedAttr(raw, "from")
		from, ferr := auth.ParseJID(sender)
		fromAlice := once && ferr == nil && from.Bare() == "alice@localhost"
		for _, x := range []*txn{iqTxn, msgTxn} {
			select {
			case <-x.done:
				v, path, _, end := g.txns.outcome(x)
				if end != nil || path == auth.PathFallback {
					continue // the fallback's send failed (not connected), checked below
				}
				if !fromAlice {
					t.Fatalf("%s from %q decided %s: %s", x.key.id, in.From, v, raw)
				}
				if id, _ := unqualifiedAttr(raw, "id"); x == iqTxn && in.XMLName.Local == "iq" && (from.String() != "alice@localhost/phone" || id != "IQID") {
					t.Fatalf("iq from %q decided the iq request: %s", in.From, raw)
				}
			default:
			}
		}
		if _, path, _, _ := g.txns.outcome(iqTxn); path == auth.PathFallback {
			if !fromAlice || from.String() != "alice@localhost/phone" {
				t.Fatalf("fallback from %q: %s", in.From, raw)
			}
		}
	})
}

// unqualifiedAttr returns the value of the top-level element's attribute
// name without a namespace, and whether it appears exactly once.
func unqualifiedAttr(raw []byte, name string) (string, bool) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := d.Token()
		if err != nil {
			return "", false
		}
		if se, ok := tok.(xml.StartElement); ok {
			v, n := "", 0
			for _, a := range se.Attr {
				if a.Name.Space == "" && a.Name.Local == name {
					v, n = a.Value, n+1
				}
			}
			return v, n == 1
		}
	}
}
