package xmpptest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

const streamHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1' version='1.0'>"

// reading returns a Client that reads the given stream text.
func reading(stream string) *Client {
	c := &Client{rec: &recorder{br: bufio.NewReader(strings.NewReader(stream))}}
	c.newDecoder()
	return c
}

func readAll(t *testing.T, stream string) ([]Stanza, error) {
	t.Helper()
	c := reading(stream)
	if _, err := c.readHeader(); err != nil {
		t.Fatal(err)
	}
	var out []Stanza
	for {
		var st Stanza
		if err := c.readElement(&st); err != nil {
			return out, err
		}
		out = append(out, st)
	}
}

func TestReadElement(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, s Stanza)
	}{{
		name: "prosody message bounce",
		in:   `<message to='auth.localhost' id='m1' from='carol@localhost' type='error'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
		check: func(t *testing.T, s Stanza) {
			want := Stanza{Name: "message", Type: "error", ID: "m1", From: "carol@localhost", To: "auth.localhost"}
			if s.Name != want.Name || s.Type != want.Type || s.ID != want.ID || s.From != want.From || s.To != want.To {
				t.Errorf("header fields: %+v", s)
			}
			if !s.IsError() || s.ErrorType() != "cancel" || s.ErrorCondition() != "service-unavailable" || s.HasConfirm() {
				t.Errorf("error fields: type %q cond %q confirm %v", s.ErrorType(), s.ErrorCondition(), s.HasConfirm())
			}
		},
	}, {
		name: "iq request with confirm and escaped url",
		in:   `<iq type="get" id="i1" from="auth.localhost" to="bob@localhost/phone"><confirm xmlns="http://jabber.org/protocol/http-auth" id="ABC" method="POST" url="https://x.test/?a=1&amp;b=&apos;2&apos;"/></iq>`,
		check: func(t *testing.T, s Stanza) {
			if !s.HasConfirm() || s.ConfirmID() != "ABC" || s.Method() != "POST" || s.URL() != "https://x.test/?a=1&b='2'" {
				t.Errorf("confirm: %v %q %q %q", s.HasConfirm(), s.ConfirmID(), s.Method(), s.URL())
			}
			if s.Payload().Space != NSHTTPAuth || s.Payload().Local != "confirm" {
				t.Errorf("payload %v", s.Payload())
			}
		},
	}, {
		name: "message with thread, bodies, cdata and a confirm declared by prefix",
		in: `<message type='normal' from='auth.localhost' to='bob@localhost' id='m2' xmlns:h='http://jabber.org/protocol/http-auth'>` +
			`<body>code <![CDATA[<K2>]]> &amp; more</body><body xml:lang='fr'>code</body><thread>th-1</thread>` +
			`<h:confirm id='K2' method='GET' url='https://x.test/'/></message>`,
		check: func(t *testing.T, s Stanza) {
			if s.Body() != "code <K2> & more" || s.Thread() != "th-1" || s.ConfirmID() != "K2" {
				t.Errorf("body %q thread %q confirm %q", s.Body(), s.Thread(), s.ConfirmID())
			}
		},
	}, {
		name: "confirm not in the http-auth namespace is ignored",
		in:   `<message from='a@b'><confirm xmlns='urn:other' id='X'/></message>`,
		check: func(t *testing.T, s Stanza) {
			if s.HasConfirm() {
				t.Error("HasConfirm for a foreign namespace")
			}
		},
	}, {
		name: "denial with text, confirm echoed, nested error",
		in: `<message type='error' id='m3' from='bob@localhost/phone'><confirm xmlns='http://jabber.org/protocol/http-auth' id='Q'/>` +
			`<error code='401' type='auth'><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no</text><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
		check: func(t *testing.T, s Stanza) {
			if s.ErrorCondition() != "not-authorized" || s.ErrorText() != "no" || s.ErrorType() != "auth" || s.ConfirmID() != "Q" {
				t.Errorf("cond %q text %q type %q confirm %q", s.ErrorCondition(), s.ErrorText(), s.ErrorType(), s.ConfirmID())
			}
		},
	}, {
		name: "self-closing presence",
		in:   `<presence from='alice@localhost/laptop' to='alice@localhost/laptop'/>`,
		check: func(t *testing.T, s Stanza) {
			if s.Name != "presence" || s.Type != "" || s.Payload().Local != "" {
				t.Errorf("%+v", s)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Whitespace keepalives around the stanza, and a second
			// stanza right after it in the same read.
			got, err := readAll(t, streamHeader+"\n \n"+tc.in+" <presence/></stream:stream>")
			if !errors.Is(err, ErrStreamClosed) {
				t.Fatalf("end of stream: %v", err)
			}
			if len(got) != 2 {
				t.Fatalf("read %d stanzas, want 2", len(got))
			}
			if string(got[0].Raw) != tc.in {
				t.Errorf("Raw =\n%s\nwant\n%s", got[0].Raw, tc.in)
			}
			if string(got[1].Raw) != "<presence/>" {
				t.Errorf("second Raw = %s", got[1].Raw)
			}
			tc.check(t, got[0])
		})
	}
}

func TestReadElementErrors(t *testing.T) {
	_, err := readAll(t, streamHeader+"<message><body>cut")
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated stream: %v, want io.ErrUnexpectedEOF", err)
	}
	_, err = readAll(t, streamHeader+"<message></iq>")
	if err == nil || errors.Is(err, io.ErrUnexpectedEOF) || !strings.HasPrefix(err.Error(), "xmpptest: ") {
		t.Errorf("malformed stream: %v", err)
	}
}

// writeConn records what a Client writes.
type writeConn struct {
	net.Conn
	buf bytes.Buffer
}

func (w *writeConn) Write(p []byte) (int, error)      { return w.buf.Write(p) }
func (w *writeConn) SetWriteDeadline(time.Time) error { return nil }

func writing(component bool) (*Client, *writeConn) {
	wc := &writeConn{}
	c := &Client{conn: wc, idPrefix: "t-", component: component, jid: "auth.localhost"}
	return c, wc
}

// TestEncodingRoundTrip builds every stanza the helpers send, parses it back
// and compares the fields: hostile values must come back unchanged.
func TestEncodingRoundTrip(t *testing.T) {
	const (
		from   = "gw.test/a'b\"<c>&"
		url    = "https://x.test/p?a=1&b='2'&c=\"3\"<>\t\n"
		id     = "id'\"<&>"
		code   = "C&<'\">D"
		thread = "th'<&>"
		body   = "héllo <b>&amp;</b> ' \" \r\n\t\x01 end"
	)
	req := Stanza{Name: "iq", Type: "get", ID: id, From: from, confirm: true, confirmID: code, method: "GET", url: url}
	msg := Stanza{Name: "message", Type: "normal", ID: id, From: from, confirm: true, confirmID: code, method: "POST", url: url, thread: thread}

	tests := []struct {
		name      string
		component bool
		send      func(c *Client) error
		want      Stanza
		wantErr   string // condition
		wantErrTy string
	}{
		{name: "ApproveIQ", send: func(c *Client) error { return c.ApproveIQ(req) },
			want: Stanza{Name: "iq", Type: "result", ID: id, To: from}},
		{name: "ApproveIQ as component", component: true, send: func(c *Client) error { return c.ApproveIQ(req) },
			want: Stanza{Name: "iq", Type: "result", ID: id, To: from, From: "auth.localhost"}},
		{name: "DenyIQ", send: func(c *Client) error { return c.DenyIQ(req) },
			want:    Stanza{Name: "iq", Type: "error", ID: id, To: from, confirm: true, confirmID: code, method: "GET", url: url},
			wantErr: "not-authorized", wantErrTy: "auth"},
		{name: "ErrorIQ service-unavailable", send: func(c *Client) error { return c.ErrorIQ(req, "service-unavailable") },
			want: Stanza{Name: "iq", Type: "error", ID: id, To: from}, wantErr: "service-unavailable", wantErrTy: "cancel"},
		{name: "ErrorIQ resource-constraint", send: func(c *Client) error { return c.ErrorIQ(req, "resource-constraint") },
			want: Stanza{Name: "iq", Type: "error", ID: id, To: from}, wantErr: "resource-constraint", wantErrTy: "wait"},
		{name: "ApproveMessage", send: func(c *Client) error { return c.ApproveMessage(msg) },
			want: Stanza{Name: "message", Type: "normal", ID: "t-1", To: from, confirm: true, confirmID: code, method: "POST", url: url, thread: thread}},
		{name: "DenyMessage", send: func(c *Client) error { return c.DenyMessage(msg) },
			want:    Stanza{Name: "message", Type: "error", ID: id, To: from, confirm: true, confirmID: code, method: "POST", url: url, thread: thread},
			wantErr: "not-authorized", wantErrTy: "auth"},
		{name: "SendMessage", send: func(c *Client) error { return c.SendMessage(from, body) },
			want: Stanza{Name: "message", Type: "chat", ID: "t-1", To: from, body: strings.ReplaceAll(body, "\x01", "\uFFFD")}},
		{name: "SendConfirmMessage", send: func(c *Client) error { return c.SendConfirmMessage(from, code, "PUT", url, "chat") },
			want: Stanza{Name: "message", Type: "chat", ID: "t-1", To: from, confirm: true, confirmID: code, method: "PUT", url: url}},
		{name: "SendConfirmIQ", send: func(c *Client) error { _, err := c.SendConfirmIQ(from, code, "GET", url); return err },
			want: Stanza{Name: "iq", Type: "get", ID: "t-1", To: from, confirm: true, confirmID: code, method: "GET", url: url}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, wc := writing(tc.component)
			if err := tc.send(c); err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, streamHeader+wc.buf.String())
			if len(got) != 1 {
				t.Fatalf("wrote %s: parsed %d stanzas (%v)", wc.buf.String(), len(got), err)
			}
			s := got[0]
			w := tc.want
			if s.Name != w.Name || s.Type != w.Type || s.ID != w.ID || s.To != w.To || s.From != w.From {
				t.Errorf("got %s %s id=%q to=%q from=%q, want %s %s id=%q to=%q from=%q",
					s.Name, s.Type, s.ID, s.To, s.From, w.Name, w.Type, w.ID, w.To, w.From)
			}
			if s.confirm != w.confirm || s.confirmID != w.confirmID || s.method != w.method || s.url != w.url {
				t.Errorf("confirm %v %q %q %q, want %v %q %q %q", s.confirm, s.confirmID, s.method, s.url, w.confirm, w.confirmID, w.method, w.url)
			}
			if s.thread != w.thread || s.body != w.body {
				t.Errorf("thread %q body %q, want %q %q", s.thread, s.body, w.thread, w.body)
			}
			if s.ErrorCondition() != tc.wantErr || s.ErrorType() != tc.wantErrTy {
				t.Errorf("error %q/%q, want %q/%q", s.ErrorType(), s.ErrorCondition(), tc.wantErrTy, tc.wantErr)
			}
			if !bytes.Equal(s.Raw, wc.buf.Bytes()) {
				t.Errorf("Raw %s differs from what was written %s", s.Raw, wc.buf.Bytes())
			}
		})
	}
}

func TestErrorIQRejectsUnknownCondition(t *testing.T) {
	c, wc := writing(false)
	if err := c.ErrorIQ(Stanza{ID: "1", From: "a@b"}, "x'/><evil/"); err == nil {
		t.Error("accepted a made-up condition")
	}
	if wc.buf.Len() != 0 {
		t.Errorf("wrote %s", wc.buf.String())
	}
}

func BenchmarkReadElement(b *testing.B) {
	one := `<iq type='get' id='a1b2c3d4e5f6' from='auth.localhost' to='bob@localhost/phone' xml:lang='en'><confirm xmlns='http://jabber.org/protocol/http-auth' id='ABCD-1234' method='GET' url='https://example.org/protected/resource?x=1'/></iq>`
	stream := streamHeader + strings.Repeat(one, 1000)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	var c *Client
	var st Stanza
	for i := 0; b.Loop(); i++ {
		if i%1000 == 0 {
			b.StopTimer()
			c = reading(stream)
			if _, err := c.readHeader(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if err := c.readElement(&st); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApproveIQ(b *testing.B) {
	c, wc := writing(false)
	req := Stanza{Name: "iq", Type: "get", ID: "a1b2c3d4e5f6", From: "auth.localhost"}
	b.ReportAllocs()
	for b.Loop() {
		wc.buf.Reset()
		if err := c.ApproveIQ(req); err != nil {
			b.Fatal(err)
		}
	}
}
