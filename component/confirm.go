package component

import (
	"encoding/xml"

	"gosrc.io/xmpp/stanza"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// NSHTTPAuth is the XEP-0070 namespace.
const NSHTTPAuth = "http://jabber.org/protocol/http-auth"

// Confirm is the XEP-0070 <confirm/> payload, for an iq or a message.
type Confirm struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/http-auth confirm"`
	ID      string   `xml:"id,attr"`
	Method  string   `xml:"method,attr"`
	URL     string   `xml:"url,attr"`
}

// Namespace makes Confirm a stanza.IQPayload.
func (*Confirm) Namespace() string { return NSHTTPAuth }

// GetSet makes Confirm a stanza.IQPayload; it has no result set.
func (*Confirm) GetSet() *stanza.ResultSet { return nil }

// The one package-level registration the conventions allow: it lets the
// library's own decoders recognise <confirm/> (used by the round-trip
// tests and by anyone decoding with stanza.IQ or stanza.Message).
func init() {
	name := xml.Name{Space: NSHTTPAuth, Local: "confirm"}
	stanza.TypeRegistry.MapExtension(stanza.PKTIQ, name, Confirm{})
	stanza.TypeRegistry.MapExtension(stanza.PKTMessage, name, Confirm{})
}

// body is a message <body/> with its language. stanza.Message has room for
// one body only, and stanza.Attrs writes "lang" instead of "xml:lang".
type body struct {
	XMLName xml.Name `xml:"body"`
	Lang    string   `xml:"http://www.w3.org/XML/1998/namespace lang,attr,omitempty"`
	Text    string   `xml:",chardata"`
}

// confirmIQ builds the iq asking a full JID:
//
//	<iq type='get' id='..' from='..' to='..'><confirm xmlns='http://jabber.org/protocol/http-auth' id='..' method='..' url='..'/></iq>
//
// The confirm stanzas are written into one buffer sized up front, every
// value escaped by encoding/xml's EscapeText (never by hand), not by
// xml.Marshal: on the hot path, Marshal's reflection and its fresh 4 KiB
// buffer were the largest CPU and allocation cost per request
// (docs/PERFORMANCE.md). The round-trip tests decode what is built here
// with gosrc.io/xmpp's own stanza types, and FuzzConfirmStanzas compares
// it with the xml.Marshal form.
func confirmIQ(from, to, stanzaID string, req *auth.Request) ([]byte, error) {
	b := make([]byte, 0, 160+len(from)+len(to)+len(stanzaID)+len(req.TransactionID)+len(req.Method)+2*len(req.URL))
	b = append(b, "<iq type='get' id='"...)
	b = appendEscaped(b, stanzaID)
	b = appendFrom(b, from)
	b = append(b, "' to='"...)
	b = appendEscaped(b, to)
	b = append(b, "'>"...)
	b = appendConfirm(b, req)
	return append(b, "</iq>"...), nil
}

// confirmMessage builds the message asking a bare JID: type normal, our id,
// a thread, one body per language (default first) and the <confirm/>.
// With escaped, the bodies' text is already escaped (EscapedTexts).
func confirmMessage(from, to, stanzaID, thread string, req *auth.Request, texts []auth.Text, escaped bool) ([]byte, error) {
	n := 256 + len(from) + len(to) + len(stanzaID) + len(thread) + len(req.TransactionID) + len(req.Method) + 2*len(req.URL)
	for _, t := range texts {
		n += 40 + len(t.Lang) + len(t.Body) + len(t.Body)/8
	}
	b := make([]byte, 0, n)
	b = append(b, "<message type='normal' id='"...)
	b = appendEscaped(b, stanzaID)
	b = appendFrom(b, from)
	b = append(b, "' to='"...)
	b = appendEscaped(b, to)
	b = append(b, "'><thread>"...)
	b = appendEscaped(b, thread)
	b = append(b, "</thread>"...)
	for _, t := range texts {
		if t.Lang == "" {
			b = append(b, "<body>"...)
		} else {
			b = append(b, "<body xml:lang='"...)
			b = appendEscaped(b, t.Lang)
			b = append(b, "'>"...)
		}
		if escaped {
			b = append(b, t.Body...)
		} else {
			b = appendEscaped(b, t.Body)
		}
		b = append(b, "</body>"...)
	}
	b = appendConfirm(b, req)
	return append(b, "</message>"...), nil
}

// appendFrom appends the from attribute after a quoted value, or nothing
// when from is "": in client mode the server stamps our JID (client.go),
// and an empty from is no JID.
func appendFrom(b []byte, from string) []byte {
	if from == "" {
		return b
	}
	b = append(b, "' from='"...)
	return appendEscaped(b, from)
}

func appendConfirm(b []byte, req *auth.Request) []byte {
	b = append(b, "<confirm xmlns='"+NSHTTPAuth+"' id='"...)
	b = appendEscaped(b, req.TransactionID)
	b = append(b, "' method='"...)
	b = appendEscaped(b, req.Method)
	b = append(b, "' url='"...)
	b = appendEscaped(b, req.URL)
	return append(b, "'/>"...)
}
