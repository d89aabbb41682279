package xmpptest

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeServer accepts one connection on 127.0.0.1:0 and runs script on it.
func fakeServer(t *testing.T, script func(s *scripted)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = l.Close()
		<-done
	})
	go func() {
		defer close(done)
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		s := &scripted{t: t, conn: conn, dec: xml.NewDecoder(conn)}
		script(s)
	}()
	return l.Addr().String()
}

type scripted struct {
	t    *testing.T
	conn net.Conn
	dec  *xml.Decoder
}

func (s *scripted) send(x string) { _, _ = io.WriteString(s.conn, x) }

// expect reads the client's next start element (skipping everything else)
// and returns it with the text inside it, if it is a leaf.
func (s *scripted) expect(local string) (xml.StartElement, string) {
	for {
		tok, err := s.dec.Token()
		if err != nil {
			s.t.Errorf("server waiting for <%s>: %v", local, err)
			return xml.StartElement{}, ""
		}
		if el, ok := tok.(xml.StartElement); ok && el.Name.Local == local {
			if local == "stream" {
				return el, ""
			}
			var inner struct {
				Text string `xml:",chardata"`
				XML  string `xml:",innerxml"`
			}
			if err := s.dec.DecodeElement(&inner, &el); err != nil {
				s.t.Errorf("server reading <%s>: %v", local, err)
			}
			return el, inner.XML
		}
	}
}

// awaitClose reads until the client closes its stream or the connection,
// and answers a stream close with its own.
func (s *scripted) awaitClose() {
	for {
		tok, err := s.dec.Token()
		if err != nil {
			return
		}
		if end, ok := tok.(xml.EndElement); ok && end.Name.Local == "stream" {
			s.send("</stream:stream>")
			return
		}
	}
}

// restart is what the server does after SASL success: the client opens a
// new stream, and the server's decoder must start over too.
func (s *scripted) restart() { s.dec = xml.NewDecoder(s.conn) }

const serverHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='localhost' version='1.0'>"

func (s *scripted) login(features string) {
	s.expect("stream")
	s.send(serverHeader + "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>")
	_, auth := s.expect("auth")
	if auth != "AGFsaWNlAHB3" { // \0alice\0pw
		s.t.Errorf("SASL PLAIN payload %q", auth)
	}
	s.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
	s.restart()
	s.expect("stream")
	s.send(serverHeader + features)
}

func TestDialNegotiation(t *testing.T) {
	t.Run("bind, required session, presence with priority", func(t *testing.T) {
		addr := fakeServer(t, func(s *scripted) {
			s.login("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></stream:features>")
			_, bind := s.expect("iq")
			if !strings.Contains(bind, "<resource>r&amp;1</resource>") {
				t.Errorf("bind request %s", bind)
			}
			s.send("<iq type='result' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/r&amp;1</jid></bind></iq>")
			s.expect("iq")
			s.send("<iq type='result' id='session'/>")
			_, pres := s.expect("presence")
			if pres != "<priority>-1</priority>" {
				t.Errorf("presence %q", pres)
			}
			s.send("<presence from='alice@localhost/r&amp;1' to='alice@localhost/r&amp;1'><priority>-1</priority></presence>")
			s.send(" <message from='bob@localhost/x' id='m1'><body>hi</body></message>")
			s.awaitClose()
		})
		c, err := DialConfig(context.Background(), Config{Addr: addr, JID: "alice@localhost", Password: "pw", Resource: "r&1", Priority: -1})
		if err != nil {
			t.Fatal(err)
		}
		if c.JID() != "alice@localhost/r&1" || c.Bare() != "alice@localhost" {
			t.Errorf("JID %q bare %q", c.JID(), c.Bare())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := c.Next(ctx)
		if err != nil || st.Name != "presence" || st.From != c.JID() {
			t.Errorf("first stanza: %v %s, want our presence", err, st.Raw)
		}
		st, err = c.Next(ctx)
		if err != nil || st.Body() != "hi" {
			t.Errorf("Next: %v %s", err, st.Raw)
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		<-c.Done()
		if !errors.Is(c.Err(), ErrClosed) {
			t.Errorf("Err after Close = %v", c.Err())
		}
		if _, err := c.Next(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Next after Close = %v", err)
		}
	})

	t.Run("SASL failure", func(t *testing.T) {
		addr := fakeServer(t, func(s *scripted) {
			s.expect("stream")
			s.send(serverHeader + "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>")
			s.expect("auth")
			s.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>")
		})
		_, err := Dial(context.Background(), addr, "alice@localhost", "pw", "")
		if err == nil || !strings.Contains(err.Error(), "not-authorized") || !strings.HasPrefix(err.Error(), "xmpptest: ") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("no PLAIN without TLS", func(t *testing.T) {
		addr := fakeServer(t, func(s *scripted) {
			s.expect("stream")
			s.send(serverHeader + "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
		})
		_, err := Dial(context.Background(), addr, "alice@localhost", "pw", "")
		if err == nil || !strings.Contains(err.Error(), "PLAIN") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("stream error", func(t *testing.T) {
		addr := fakeServer(t, func(s *scripted) {
			s.expect("stream")
			s.send(serverHeader + "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>")
		})
		_, err := Dial(context.Background(), addr, "alice@localhost", "pw", "")
		var se *StreamError
		if !errors.As(err, &se) || se.Condition != "host-unknown" {
			t.Errorf("err = %v, want a host-unknown StreamError", err)
		}
	})

	t.Run("silent server and context deadline", func(t *testing.T) {
		addr := fakeServer(t, func(s *scripted) { s.expect("stream"); s.awaitClose() })
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := Dial(ctx, addr, "alice@localhost", "pw", "")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("bad JID", func(t *testing.T) {
		if _, err := Dial(context.Background(), "127.0.0.1:1", "localhost", "pw", ""); err == nil {
			t.Error("accepted a JID without a local part")
		}
	})
}

func TestServerClosesStream(t *testing.T) {
	gotClose := make(chan string, 1)
	addr := fakeServer(t, func(s *scripted) {
		s.login("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>")
		s.expect("iq")
		s.send("<iq type='result' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/x</jid></bind></iq>")
		s.expect("presence")
		s.send("<presence from='alice@localhost/x'/><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced</text></stream:error></stream:stream>")
		// The client answers with its own close.
		for {
			tok, err := s.dec.Token()
			if err != nil {
				gotClose <- err.Error()
				return
			}
			if end, ok := tok.(xml.EndElement); ok && end.Name.Local == "stream" {
				gotClose <- "closed"
				return
			}
		}
	})
	var handled []string
	c, err := DialConfig(context.Background(), Config{Addr: addr, JID: "alice@localhost", Password: "pw",
		Handler: func(c *Client, s Stanza) { handled = append(handled, s.Name) }})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("stream still up")
	}
	var se *StreamError
	if !errors.As(c.Err(), &se) || se.Condition != "conflict" || se.Text != "Replaced" {
		t.Errorf("Err = %v, want the conflict stream error", c.Err())
	}
	if got := <-gotClose; got != "closed" {
		t.Errorf("server saw %q, want the client's </stream:stream>", got)
	}
	if strings.Join(handled, ",") != "presence" {
		t.Errorf("handler saw %v, want our presence only", handled)
	}
}
