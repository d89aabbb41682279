package component

import (
	"bytes"
	"encoding/xml"
	"strings"
)

// inStanza is an incoming stanza, decoded leniently: every body, any
// <confirm/>, and an <error/> at the top level or inside <confirm/>, in
// whatever namespace the sender spelled them. The routing attributes are
// the exception: see routing. decode.go decodes it.
type inStanza struct {
	XMLName xml.Name
	Type    string
	ID      string
	From    string
	To      string
	Confirm *inConfirm
	Error   *inError
	Bodies  []string
	// Other holds the children that are none of the above: the payload
	// of an iq get or set (disco, ping, version, ...).
	Other []xmlName

	// malformed is set when a routing attribute appears twice (not
	// well-formed XML, which encoding/xml lets through): such a stanza is
	// dropped, whoever seems to send it.
	malformed bool
}

// UnmarshalXML lets xml.Decoder.DecodeElement decode an inStanza (the
// client login and the tests do); the stream reader calls decode itself.
func (s *inStanza) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	return s.decode(d, &start)
}

type inConfirm struct {
	XMLName xml.Name
	ID      string
	Error   *inError
}

type inError struct {
	Type string
	Kids []xmlName
}

// xmlName is an element's name and node attribute, its content skipped.
type xmlName struct {
	XMLName xml.Name
	Node    string
}

// parseStanza decodes one stanza from raw XML (tests and fuzzing; the
// stream decodes in place), like xml.Unmarshal: the first element, after
// whatever comes before it; what follows it is not read.
func parseStanza(raw []byte) (*inStanza, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		if t, ok := tok.(xml.StartElement); ok {
			in := new(inStanza)
			if err := in.decode(d, &t); err != nil {
				return nil, err
			}
			return in, nil
		}
	}
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
