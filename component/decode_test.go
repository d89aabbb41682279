package component

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// decodeEdges are shapes the answer table does not spell: every rule of
// decode.go's walk, and broken XML.
var decodeEdges = []string{
	"<message><body>a<!--c-->b<![CDATA[<c>]]><x>skip<body>no</body></x>d</body><body/><body></body><body><![CDATA[one]]></body><body>a<![CDATA[]]></body></message>",
	"<message><body>&lt;&amp;&#x41;&#66;&apos;&quot;&gt;</body><body>\n\t x \r\n</body></message>",
	"<message><confirm id='1'/><confirm xmlns:id='urn:id'/><confirm q:id='3' xmlns:q='urn:q'><error type='a'><x/></error></confirm><confirm><error q:type='b' xmlns:q='u'><y node='n'/></error><error><z/></error></confirm></message>",
	"<message><error type='cancel'/><error><a xmlns='x' node='1' q:node='2' xmlns:q='q'/><text/>text<!--c--></error><error type=''/></message>",
	"<iq><x:confirm xmlns:x='urn:x' id='a'/><foo:body xmlns:foo='f'>text</foo:body><e:error xmlns:e='e'><e:gone/></e:error></iq>",
	"<iq><query xmlns='http://jabber.org/protocol/disco#info' node='n'><confirm id='nested'/><body>nested</body><error/></query></iq>",
	"<iq type='a' type='b'/>",
	"<iq id='1' id='2' from='a' to='b' to='c'/>",
	"<iq xmlns:type='t' xmlns:from='f' from:id='x' type:to='y'/>",
	"<message xmlns='jabber:client' xml:lang='en' from='a'><body xml:lang='de'>x</body></message>",
	"<message><confirm><body>in confirm</body><error><error/></error><error><gone/></error></confirm><error/></message>",
	"<message><undeclared:x/><y undeclared:node='u'/></message>",
	"<a:message xmlns:a='urn:a' a:from='x'/>",
	"<message>" + strings.Repeat("<a>", 300) + "<body>deep</body>" + strings.Repeat("</a>", 300) + "</message>",
	"<message><body>" + strings.Repeat("<a>", 300) + "x" + strings.Repeat("</a>", 300) + "y</body></message>",
	"<message><confirm>" + strings.Repeat("<error>", 50) + strings.Repeat("</error>", 50) + "</confirm></message>",
	"<?xml version='1.0'?><!-- c --> <message from='a'/>trailing garbage<",
	"<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>",
	"<presence/>",
	"<message><?pi x?><body>a<?pi y?>b</body></message>",
	// broken
	"",
	"junk",
	"</message>",
	"<message><body>x</body>",
	"<message><body>x</message>",
	"<message><confirm id='1'><error>",
	"<message><body>\xff</body></message>",
	"<message from='\xff'/>",
	"<message><body>a &nbsp; b</body></message>",
	"<message><error><x></y></error></message>",
	"<message a='1' a></message>",
}

// decodeCorpus is every stanza the differential tests compare on: each
// answer of the answer table (built for an iq and for a message request),
// FuzzAnswer's seeds, the benchmark shapes, our own outgoing stanzas and
// decodeEdges.
func decodeCorpus(t testing.TB) []string {
	req := &auth.Request{TransactionID: "T1", Method: "GET", URL: "https://example.org/?a=1&b='2'"}
	iq, _ := confirmIQ(benchComponent, alicePhone, benchSID, req)
	msg, _ := confirmMessage(benchComponent, alice, benchSID, thread, req,
		[]auth.Text{{Lang: "en", Body: "Code T1 <for> example.org"}, {Lang: "fr", Body: "Code T1 & co"}}, false)
	corpus := []string{string(iq), string(msg), string(pingIQ(benchComponent, "localhost", "p1"))}
	var qs []*inStanza
	for _, b := range [][]byte{iq, msg} {
		q, err := refParse(b)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	for _, tc := range answerCases {
		for _, q := range qs {
			corpus = append(corpus, tc.answer(q, "T1"))
			if tc.then != nil {
				corpus = append(corpus, tc.then(q, "T1"))
			}
		}
	}
	corpus = append(corpus, answerSeeds...)
	for _, sh := range benchShapes {
		corpus = append(corpus, sh.raw)
	}
	return append(corpus, decodeEdges...)
}

// sameDecode fails unless both decoders agree: the same error (or none)
// and the same inStanza.
func sameDecode(t testing.TB, how string, raw []byte, got *inStanza, gerr error, want *inStanza, werr error) {
	t.Helper()
	if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
		t.Fatalf("%s: error %v, the reference %v: %q", how, gerr, werr, raw)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: %q\ngot  %s\nwant %s", how, raw, dump(got), dump(want))
	}
}

func dump(s *inStanza) string {
	if s == nil {
		return "nil"
	}
	c, e := "nil", "nil"
	if s.Confirm != nil {
		c = fmt.Sprintf("%+v", *s.Confirm)
		if s.Confirm.Error != nil {
			c += fmt.Sprintf(" error %+v", *s.Confirm.Error)
		}
	}
	if s.Error != nil {
		e = fmt.Sprintf("%+v", *s.Error)
	}
	return fmt.Sprintf("%+v confirm %s error %s", *s, c, e)
}

// readerConn is a net.Conn reading r; nothing else is called.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// diffDecode compares both decoders on raw: alone (parseStanza), and as
// stanzas of a component stream (stream.next, namespaces inherited from
// the stream header), where raw may hold several stanzas or end the
// stream: every stanza read and the error that ends the stream agree.
func diffDecode(t testing.TB, raw []byte) {
	t.Helper()
	got, gerr := parseStanza(raw)
	want, werr := refParse(raw)
	sameDecode(t, "parseStanza", raw, got, gerr, want, werr)

	wire := append([]byte(benchStreamHeader), raw...)
	wire = append(wire, "</stream:stream>"...)
	var ss [2]*stream
	for i := range ss {
		ss[i] = newStream(readerConn{r: bytes.NewReader(wire)}, &Options{})
		if _, err := ss[i].readHeader(); err != nil {
			t.Fatal(err)
		}
	}
	for n := 0; ; n++ {
		got, gerr := ss[0].next()
		want, werr := refNext(ss[1])
		sameDecode(t, fmt.Sprintf("stream.next #%d", n), raw, got, gerr, want, werr)
		if gerr != nil {
			return
		}
	}
}

// TestDecodeMatchesReference: the hand-written decoder gives exactly what
// encoding/xml's reflection gave, on every answer shape the tests know.
func TestDecodeMatchesReference(t *testing.T) {
	for _, raw := range decodeCorpus(t) {
		diffDecode(t, []byte(raw))
	}
}

// FuzzDecodeStanza: on any bytes, the hand-written decoder and the
// reference agree (the same error or none, the same fields).
func FuzzDecodeStanza(f *testing.F) {
	for _, raw := range decodeCorpus(f) {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		diffDecode(t, raw)
	})
}

// TestDecodeRules spells out what the reference does for the shapes that
// surprise (the differential tests hold the decoder to it).
func TestDecodeRules(t *testing.T) {
	in, err := parseStanza([]byte(decodeEdges[0]))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ab<c>d", "", "", "one", "a"}; !reflect.DeepEqual(in.Bodies, want) {
		t.Errorf("bodies %q, want %q", in.Bodies, want)
	}
	// Repeated <confirm/>s share one struct: the last id attribute (in
	// any namespace, an xmlns:id declaration included) wins, errors inside
	// accumulate their conditions.
	in, err = parseStanza([]byte(decodeEdges[2]))
	if err != nil {
		t.Fatal(err)
	}
	if in.Confirm.ID != "3" || in.Confirm.Error == nil || in.Confirm.Error.Type != "b" || len(in.Confirm.Error.Kids) != 3 {
		t.Errorf("confirm %s", dump(in))
	}
	if cond, ok := in.condition(); cond != "x" || !ok {
		t.Errorf("condition %q %v", cond, ok)
	}
	// Names match in any namespace, direct children only.
	in, err = parseStanza([]byte(decodeEdges[4]))
	if err != nil {
		t.Fatal(err)
	}
	if in.Confirm == nil || in.Confirm.ID != "a" || len(in.Bodies) != 1 || in.Error == nil || len(in.Other) != 0 {
		t.Errorf("namespaced children: %s", dump(in))
	}
	if cond, _ := in.condition(); cond != "gone" {
		t.Errorf("condition %q", cond)
	}
	in, err = parseStanza([]byte(decodeEdges[5]))
	if err != nil {
		t.Fatal(err)
	}
	if in.Confirm != nil || in.Bodies != nil || in.Error != nil || len(in.Other) != 1 || in.Other[0].Node != "n" {
		t.Errorf("nested: %s", dump(in))
	}
	// Routing attributes: unqualified only; repeated ones mark it.
	for i, want := range []bool{true, true, false} {
		in, err = parseStanza([]byte(decodeEdges[6+i]))
		if err != nil {
			t.Fatal(err)
		}
		if in.malformed != want {
			t.Errorf("%s: malformed %v", decodeEdges[6+i], in.malformed)
		}
	}
	if in.Type != "" || in.ID != "" || in.From != "" || in.To != "" {
		t.Errorf("namespaced routing attributes taken: %s", dump(in))
	}
}
