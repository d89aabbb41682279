package component

import "encoding/xml"

// Incoming stanzas are decoded by hand, walking the decoder's tokens,
// instead of by encoding/xml's reflection (DecodeElement into tagged
// structs): the profiles put that at several µs and dozens of allocations
// per answer. The walk keeps exactly the semantics the struct tags had
// (decode_ref_test.go keeps the tagged decoder as the reference, and
// FuzzDecodeStanza compares the two):
//
//   - elements match by local name in any namespace (an untagged or
//     namespace-less tag in encoding/xml), among the direct children of
//     the element only;
//   - every <body> child adds its direct character data (text and CDATA,
//     not that of nested elements) to Bodies;
//   - a second <confirm/> or <error/> decodes into the first one's struct:
//     attributes present overwrite, error conditions accumulate;
//   - the attributes id (of <confirm/>), type (of <error/>) and node (of
//     the others) are taken by local name in any namespace, the last one
//     winning; the stanza's routing attributes only without a namespace
//     (see routing);
//   - every other child element becomes an entry of Other (or of an
//     error's Kids) with its name and node, its content skipped.
//
// It reads with Token, like DecodeElement, so the decoder's element stack,
// namespace translation and well-formedness checks (Strict) are the same,
// and it stops right after the element's end tag. Only the character data
// of Token is a buffer reused by the next call: it is copied.

// decode reads the content of the element whose start tag is start, just
// returned by d.Token, up to and including its end tag.
func (s *inStanza) decode(d *xml.Decoder, start *xml.StartElement) error {
	s.XMLName = start.Name
	err := eachChild(d, func(t xml.StartElement) error {
		switch t.Name.Local {
		case "confirm":
			if s.Confirm == nil {
				s.Confirm = new(inConfirm)
			}
			return s.Confirm.decode(d, &t)
		case "error":
			if s.Error == nil {
				s.Error = new(inError)
			}
			return s.Error.decode(d, &t)
		case "body":
			b, err := charData(d)
			if err == nil {
				s.Bodies = append(s.Bodies, b)
			}
			return err
		default:
			s.Other = append(s.Other, nameOf(&t))
			return d.Skip()
		}
	})
	if err != nil {
		return err
	}
	s.routing(start.Attr)
	return nil
}

// eachChild reads the content of the element being read up to and
// including its end tag, calling f with the start tag of each child
// element; f reads the child to its end (decoding or skipping it).
func eachChild(d *xml.Decoder, f func(xml.StartElement) error) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := f(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// routing takes type, id, from and to only from attributes without a
// namespace. encoding/xml would fill a field tagged "from,attr" from an
// attribute of that local name in any namespace, the last one winning,
// and Prosody relays such attributes untouched (in its own order): bob's
// <message xmlns:x='urn:x' x:from='alice@example.org/x'> reached the
// component as from='bob@…' … x:from='alice@…' and was taken for alice's.
// The server stamps the unqualified from; that one alone says who sent it.
// A routing attribute given twice marks the stanza malformed.
func (s *inStanza) routing(attrs []xml.Attr) {
	s.Type, s.ID, s.From, s.To = "", "", "", ""
	var seen [4]bool
	for _, a := range attrs {
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
}

func (c *inConfirm) decode(d *xml.Decoder, start *xml.StartElement) error {
	c.XMLName = start.Name
	for _, a := range start.Attr {
		if a.Name.Local == "id" {
			c.ID = a.Value
		}
	}
	return eachChild(d, func(t xml.StartElement) error {
		if t.Name.Local != "error" {
			return d.Skip()
		}
		if c.Error == nil {
			c.Error = new(inError)
		}
		return c.Error.decode(d, &t)
	})
}

func (e *inError) decode(d *xml.Decoder, start *xml.StartElement) error {
	for _, a := range start.Attr {
		if a.Name.Local == "type" {
			e.Type = a.Value
		}
	}
	return eachChild(d, func(t xml.StartElement) error {
		e.Kids = append(e.Kids, nameOf(&t))
		return d.Skip()
	})
}

// nameOf is an element's name and node attribute (in any namespace, the
// last one winning).
func nameOf(start *xml.StartElement) xmlName {
	n := xmlName{XMLName: start.Name}
	for _, a := range start.Attr {
		if a.Name.Local == "node" {
			n.Node = a.Value
		}
	}
	return n
}

// charData reads the rest of an element whose start tag was just read and
// returns its direct character data, text and CDATA sections alike;
// nested elements are skipped with their content, comments and
// processing instructions ignored.
func charData(d *xml.Decoder) (string, error) {
	var (
		s    string
		more []byte // a second chunk and after (text around a comment, CDATA)
		n    int
	)
	for {
		tok, err := d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			switch n++; n {
			case 1:
				s = string(t) // t is only valid until the next Token
			case 2:
				more = append(append(more, s...), t...)
			default:
				more = append(more, t...)
			}
		case xml.StartElement:
			if err := d.Skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			if n > 1 {
				return string(more), nil
			}
			return s, nil
		}
	}
}
