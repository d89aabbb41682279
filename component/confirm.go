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

// confirmIQ builds the iq asking a full JID.
func confirmIQ(from, to, stanzaID string, req *auth.Request) ([]byte, error) {
	iq := stanza.IQ{
		XMLName: xml.Name{Local: "iq"},
		Attrs:   stanza.Attrs{Type: stanza.IQTypeGet, Id: stanzaID, From: from, To: to},
		Payload: &Confirm{ID: req.TransactionID, Method: req.Method, URL: req.URL},
	}
	return xml.Marshal(&iq)
}

// confirmMessage builds the message asking a bare JID: type normal, our id,
// a thread, one body per language (default first) and the <confirm/>.
func confirmMessage(from, to, stanzaID, thread string, req *auth.Request, texts []auth.Text) ([]byte, error) {
	ext := make([]stanza.MsgExtension, 0, len(texts)+1)
	for _, t := range texts {
		ext = append(ext, &body{Lang: t.Lang, Text: t.Body})
	}
	ext = append(ext, &Confirm{ID: req.TransactionID, Method: req.Method, URL: req.URL})
	msg := stanza.Message{
		XMLName:    xml.Name{Local: "message"},
		Attrs:      stanza.Attrs{Type: stanza.MessageTypeNormal, Id: stanzaID, From: from, To: to},
		Thread:     thread,
		Extensions: ext,
	}
	return xml.Marshal(&msg)
}
