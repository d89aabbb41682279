package component

import (
	"encoding/xml"
	"strings"
)

// inStanza is an incoming stanza, decoded leniently: every body, any
// <confirm/>, and an <error/> at the top level or inside <confirm/>, in
// whatever namespace the sender spelled them. The routing attributes are
// the exception: see UnmarshalXML.
type inStanza struct {
	XMLName xml.Name
	Type    string     `xml:"-"`
	ID      string     `xml:"-"`
	From    string     `xml:"-"`
	To      string     `xml:"-"`
	Confirm *inConfirm `xml:"confirm"`
	Error   *inError   `xml:"error"`
	Bodies  []string   `xml:"body"`
	// Other holds the children that are none of the above: the payload
	// of an iq get or set (disco, ping, version, ...).
	Other []xmlName `xml:",any"`

	// malformed is set when a routing attribute appears twice (not
	// well-formed XML, which encoding/xml lets through): such a stanza is
	// dropped, whoever seems to send it.
	malformed bool
}

// UnmarshalXML takes type, id, from and to only from attributes without a
// namespace. encoding/xml fills a field tagged "from,attr" from an
// attribute of that local name in any namespace, the last one winning,
// and Prosody relays such attributes untouched (in its own order): bob's
// <message xmlns:x='urn:x' x:from='alice@example.org/x'> reached the
// component as from='bob@…' … x:from='alice@…' and was taken for alice's.
// The server stamps the unqualified from; that one alone says who sent it.
func (s *inStanza) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	type plain inStanza // the same fields without this method
	if err := d.DecodeElement((*plain)(s), &start); err != nil {
		return err
	}
	s.Type, s.ID, s.From, s.To = "", "", "", ""
	var seen [4]bool
	for _, a := range start.Attr {
		if a.Name.Space != "" {
			continue
		}
		i := -1
		switch a.Name.Local {
		case "type":
			i, s.Type = 0, a.Value
		case "id":
			i, s.ID = 1, a.Value
		case "from":
			i, s.From = 2, a.Value
		case "to":
			i, s.To = 3, a.Value
		}
		if i >= 0 {
			s.malformed = s.malformed || seen[i]
			seen[i] = true
		}
	}
	return nil
}

type inConfirm struct {
	XMLName xml.Name
	ID      string   `xml:"id,attr"`
	Error   *inError `xml:"error"`
}

type inError struct {
	Type string    `xml:"type,attr"`
	Kids []xmlName `xml:",any"`
}

// xmlName decodes only an element's name, skipping its content.
type xmlName struct {
	XMLName xml.Name
	Node    string `xml:"node,attr"`
}

// parseStanza decodes one stanza from raw XML (tests and fuzzing; the
// stream decodes in place).
func parseStanza(raw []byte) (*inStanza, error) {
	in := new(inStanza)
	if err := xml.Unmarshal(raw, in); err != nil {
		return nil, err
	}
	return in, nil
}

// verdict is what an answer means for its transaction.
type verdict int

const (
	vApprove     verdict = iota + 1 // 200
	vDeny                           // 401
	vUnreachable                    // 523
	vServerError                    // 520
	vFallback                       // iq refused: ask again by message
)

func (v verdict) String() string {
	switch v {
	case vApprove:
		return "approved"
	case vDeny:
		return "denied"
	case vUnreachable:
		return "unreachable"
	case vServerError:
		return "server-error"
	case vFallback:
		return "fallback"
	}
	return "none"
}

// condition returns the defined condition of the stanza's error, wherever
// the <error/> sits, and whether there is an error at all. An error with
// no recognisable condition gives "".
func (s *inStanza) condition() (string, bool) {
	e := s.Error
	if e == nil && s.Confirm != nil {
		e = s.Confirm.Error
	}
	if e == nil {
		return "", s.Type == "error"
	}
	first := ""
	for _, k := range e.Kids {
		l := k.XMLName.Local
		if l == "text" {
			continue
		}
		if _, ok := knownConditions[l]; ok {
			return l, true
		}
		if first == "" {
			first = l
		}
	}
	return first, true
}

// knownConditions are RFC 6120's defined stanza error conditions; a known
// one wins over an application-specific element listed before it.
var knownConditions = map[string]struct{}{
	"bad-request": {}, "conflict": {}, "feature-not-implemented": {}, "forbidden": {},
	"gone": {}, "internal-server-error": {}, "item-not-found": {}, "jid-malformed": {},
	"not-acceptable": {}, "not-allowed": {}, "not-authorized": {}, "policy-violation": {},
	"recipient-unavailable": {}, "redirect": {}, "registration-required": {},
	"remote-server-not-found": {}, "remote-server-timeout": {}, "resource-constraint": {},
	"service-unavailable": {}, "subscription-required": {}, "undefined-condition": {},
	"unexpected-request": {},
}

// classify says what a stanza already matched to a transaction decides.
// asIQ is true for an iq answering our iq: then service-unavailable and
// feature-not-implemented ask for the message fallback; for a message,
// service-unavailable means an offline user without offline storage.
func classify(s *inStanza, asIQ bool) verdict {
	cond, isErr := s.condition()
	if !isErr {
		return vApprove
	}
	switch cond {
	case "service-unavailable":
		if asIQ {
			return vFallback
		}
		return vUnreachable
	case "feature-not-implemented":
		if asIQ {
			return vFallback
		}
		return vDeny
	case "item-not-found", "recipient-unavailable", "remote-server-not-found",
		"remote-server-timeout", "gone", "redirect":
		return vUnreachable
	case "internal-server-error", "resource-constraint", "undefined-condition":
		return vServerError
	}
	return vDeny
}

// bodyCode returns the first body trimmed, the candidate for a plain-text
// code, or "".
func (s *inStanza) bodyCode() string {
	if len(s.Bodies) == 0 {
		return ""
	}
	return strings.TrimSpace(s.Bodies[0])
}
