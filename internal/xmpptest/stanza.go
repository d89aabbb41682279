package xmpptest

import (
	"encoding/xml"
	"fmt"
)

// Namespaces the client reads or writes.
const (
	NSClient    = "jabber:client"
	NSComponent = "jabber:component:accept"
	NSStream    = "http://etherx.jabber.org/streams"
	NSStanzas   = "urn:ietf:params:xml:ns:xmpp-stanzas"
	NSHTTPAuth  = "http://jabber.org/protocol/http-auth" // XEP-0070
	NSPing      = "urn:xmpp:ping"                        // XEP-0199
	nsSASL      = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind      = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession   = "urn:ietf:params:xml:ns:xmpp-session"
)

// Stanza is one top-level element received on the stream: its raw bytes as
// they came off the wire, plus the fields tests look at most, parsed once
// while streaming. A Stanza is a value; it never changes after delivery and
// may be kept.
type Stanza struct {
	// Raw is the element exactly as received, namespace declarations
	// inherited from the stream header (jabber:client) not included.
	Raw []byte
	// Name is the local name: "iq", "message" or "presence" (or, on a
	// component stream, "handshake").
	Name string
	// Type, ID, From, To are the attributes of the same name ("" if absent).
	Type, ID, From, To string

	space        string // namespace of the element itself
	confirm      bool
	confirmID    string
	method       string
	url          string
	thread       string
	body         string
	hasError     bool
	errorType    string
	errorCond    string
	errorText    string
	firstChild   xml.Name
	hasChildElem bool
}

// HasConfirm reports whether the stanza carries a XEP-0070
// <confirm xmlns='http://jabber.org/protocol/http-auth'/> as a direct child.
func (s Stanza) HasConfirm() bool { return s.confirm }

// ConfirmID is the id attribute of the <confirm/> (the transaction code).
func (s Stanza) ConfirmID() string { return s.confirmID }

// Method is the method attribute of the <confirm/>.
func (s Stanza) Method() string { return s.method }

// URL is the url attribute of the <confirm/>.
func (s Stanza) URL() string { return s.url }

// Thread is the text of the first <thread/> child.
func (s Stanza) Thread() string { return s.thread }

// Body is the text of the first <body/> child.
func (s Stanza) Body() string { return s.body }

// IsError reports whether the stanza has type='error' or an <error/> child.
func (s Stanza) IsError() bool { return s.Type == "error" || s.hasError }

// ErrorType is the type attribute of the top-level <error/> child
// ("cancel", "auth", "wait", ...).
func (s Stanza) ErrorType() string { return s.errorType }

// ErrorCondition is the defined condition of the top-level <error/>: the
// local name of its first child in the urn:ietf:params:xml:ns:xmpp-stanzas
// namespace other than <text/>, such as "service-unavailable".
func (s Stanza) ErrorCondition() string { return s.errorCond }

// ErrorText is the text of the error's <text/> child, if any.
func (s Stanza) ErrorText() string { return s.errorText }

// Payload is the name of the first child element (for an iq, its payload),
// or the zero Name if there is none.
func (s Stanza) Payload() xml.Name { return s.firstChild }

// Decode unmarshals Raw into v with encoding/xml. Namespaces declared only
// on the stream header are not seen by v: match children by their own xmlns.
func (s Stanza) Decode(v any) error {
	if err := xml.Unmarshal(s.Raw, v); err != nil {
		return fmt.Errorf("xmpptest: decode %s: %w", s.Name, err)
	}
	return nil
}

// String returns the raw XML.
func (s Stanza) String() string { return string(s.Raw) }

// text capture targets while parsing children.
const (
	capNone = iota
	capThread
	capBody
	capErrorText
)

// parser holds the per-stanza state of the streaming parse. It lives in
// the Client and is reused, so parsing a stanza allocates little beyond the
// strings it keeps.
type parser struct {
	text []byte
}

// start records the top-level element's name and attributes.
func (p *parser) start(st *Stanza, el xml.StartElement) {
	st.Name = el.Name.Local
	for _, a := range el.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "type":
			st.Type = a.Value
		case "id":
			st.ID = a.Value
		case "from":
			st.From = a.Value
		case "to":
			st.To = a.Value
		}
	}
}

// child handles a start element below the top-level one; depth is 2 for a
// direct child. It returns what character data to capture.
func (p *parser) child(st *Stanza, el xml.StartElement, depth int, inError bool) int {
	if depth == 2 {
		if !st.hasChildElem {
			st.hasChildElem = true
			st.firstChild = el.Name
		}
		switch {
		case el.Name.Local == "confirm" && el.Name.Space == NSHTTPAuth && !st.confirm:
			st.confirm = true
			for _, a := range el.Attr {
				if a.Name.Space != "" {
					continue
				}
				switch a.Name.Local {
				case "id":
					st.confirmID = a.Value
				case "method":
					st.method = a.Value
				case "url":
					st.url = a.Value
				}
			}
		case el.Name.Local == "thread" && st.thread == "":
			return capThread
		case el.Name.Local == "body" && st.body == "":
			return capBody
		case el.Name.Local == "error" && !st.hasError:
			st.hasError = true
			for _, a := range el.Attr {
				if a.Name.Space == "" && a.Name.Local == "type" {
					st.errorType = a.Value
				}
			}
		}
		return capNone
	}
	if depth == 3 && inError && el.Name.Space == NSStanzas {
		if el.Name.Local == "text" {
			if st.errorText == "" {
				return capErrorText
			}
		} else if st.errorCond == "" {
			st.errorCond = el.Name.Local
		}
	}
	return capNone
}

func (p *parser) finishText(st *Stanza, target int) {
	switch target {
	case capThread:
		st.thread = string(p.text)
	case capBody:
		st.body = string(p.text)
	case capErrorText:
		st.errorText = string(p.text)
	}
	p.text = p.text[:0]
}
