package component

import "encoding/xml"

// The reference decoder: inStanza as it was decoded before decode.go, by
// encoding/xml's reflection from tagged structs (the code of answer.go at
// 3d09a64, types renamed). The differential tests in decode_test.go hold
// the hand-written decoder to exactly what this one produces.

type refStanza struct {
	XMLName xml.Name
	Type    string      `xml:"-"`
	ID      string      `xml:"-"`
	From    string      `xml:"-"`
	To      string      `xml:"-"`
	Confirm *refConfirm `xml:"confirm"`
	Error   *refError   `xml:"error"`
	Bodies  []string    `xml:"body"`
	Other   []refName   `xml:",any"`

	malformed bool
}

func (s *refStanza) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	type plain refStanza // the same fields without this method
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

type refConfirm struct {
	XMLName xml.Name
	ID      string    `xml:"id,attr"`
	Error   *refError `xml:"error"`
}

type refError struct {
	Type string    `xml:"type,attr"`
	Kids []refName `xml:",any"`
}

type refName struct {
	XMLName xml.Name
	Node    string `xml:"node,attr"`
}

// refParse is the old parseStanza.
func refParse(raw []byte) (*inStanza, error) {
	r := new(refStanza)
	if err := xml.Unmarshal(raw, r); err != nil {
		return nil, err
	}
	return r.in(), nil
}

// refNext is the old stream.next.
func refNext(s *stream) (*inStanza, error) {
	t, err := s.nextStart()
	if err != nil {
		return nil, err
	}
	r := new(refStanza)
	if err := s.dec.DecodeElement(r, &t); err != nil {
		return nil, err
	}
	s.reads.Add(1)
	return r.in(), nil
}

// in converts to the production type, keeping nil apart from empty.
func (r *refStanza) in() *inStanza {
	s := &inStanza{XMLName: r.XMLName, Type: r.Type, ID: r.ID, From: r.From, To: r.To,
		Bodies: r.Bodies, Other: refNames(r.Other), Error: r.Error.in(), malformed: r.malformed}
	if r.Confirm != nil {
		s.Confirm = &inConfirm{XMLName: r.Confirm.XMLName, ID: r.Confirm.ID, Error: r.Confirm.Error.in()}
	}
	return s
}

func (r *refError) in() *inError {
	if r == nil {
		return nil
	}
	return &inError{Type: r.Type, Kids: refNames(r.Kids)}
}

func refNames(ns []refName) []xmlName {
	if ns == nil {
		return nil
	}
	out := make([]xmlName, len(ns))
	for i, n := range ns {
		out[i] = xmlName(n)
	}
	return out
}
