package component

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"strings"

	"gosrc.io/xmpp/stanza"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// Client mode: the gateway logs in as an ordinary account over c2s (RFC
// 6120) instead of as a XEP-0114 component, for people who cannot add a
// component to their server. Only the opening differs; once the stream is
// up, the same reader, writer, pings, reconnection and XEP-0070 handling
// run on it.
//
// The opening, in order: the stream header (jabber:client, version 1.0);
// STARTTLS whenever the server offers it (TLS 1.2 or later, the server
// name checked against the account's domain unless InsecureSkipVerify);
// SASL SCRAM-SHA-256 or SCRAM-SHA-1 (RFC 5802, RFC 7677), else PLAIN;
// the stream restart; resource binding (the configured resource, or one
// the server picks); the RFC 3921 session when the server says it is not
// optional; initial presence (available, priority 0).
//
// The password never crosses the network in clear: without STARTTLS the
// login goes on only when the server's address is loopback (tests, a
// local demo, a server on the same host), else it stops before any SASL
// exchange. A certificate that does not verify is never a reason to go on
// without TLS.
//
// What we send carries no from: the server stamps every stanza of a
// client with the full JID it bound (RFC 6120 8.1.2.1), and subscription
// replies with the bare JID (RFC 6121 3.1). A from of our own could only
// be wrong: a stale resource after a reconnect where the server chose the
// resource is an invalid-from, which ends the stream.

const (
	nsClient  = "jabber:client"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
)

// LoginError reports a refused SASL login: a wrong password, or an account
// the server does not know.
type LoginError struct {
	Account, Server string
	Condition, Text string // the SASL failure condition and its text
}

func (e *LoginError) Error() string {
	said := ""
	if e.Text != "" {
		said = "; the server said: " + e.Text
	}
	return fmt.Sprintf("component: login as %s refused by %s: %s (check xmpp_secret%s)", e.Account, e.Server, e.Condition, said)
}

// AuthError reports a login that cannot succeed as things stand: the
// server offers no SASL mechanism we use, or does not prove that it knows
// the password (a wrong SCRAM server signature: a misconfigured server,
// or someone in between).
type AuthError struct {
	Account, Server string
	Err             error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("component: login as %s at %s: %v", e.Account, e.Server, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// TLSError reports a STARTTLS that failed: the server refused it, or its
// certificate could not be verified. The gateway never goes on without TLS
// after one.
type TLSError struct {
	Domain, Server string
	Err            error
}

func (e *TLSError) Error() string {
	hint := ""
	var ve *tls.CertificateVerificationError
	if errors.As(e.Err, &ve) {
		hint = " (the server's certificate must be valid for " + e.Domain +
			"; for a self-signed certificate on a server you trust, set xmpp_verify_cert_validity=false)"
	}
	return fmt.Sprintf("component: TLS with %s for %s failed: %v%s", e.Server, e.Domain, e.Err, hint)
}

func (e *TLSError) Unwrap() error { return e.Err }

// dialClient connects to the server's client port and logs in as
// o.Account. Neither the password nor the SASL exchange is ever logged.
func dialClient(ctx context.Context, o *Options) (*stream, error) {
	acct, err := auth.ParseJID(o.Account)
	if err != nil || acct.Local == "" {
		return nil, fmt.Errorf("component: client mode needs an account JID such as gateway@example.org/auth, not %q", o.Account)
	}
	return dial(ctx, o, func(s *stream) error {
		bound, err := s.login(acct, o)
		if err != nil {
			return err
		}
		s.self = bound
		return nil
	})
}

// streamFeatures are the features we act on. stanza.StreamFeatures reads
// STARTTLS, the mechanisms and bind; its Session.Optional is never set
// (the field has no tag, so <optional/> is not matched), so the session
// feature is read here.
type streamFeatures struct {
	stanza.StreamFeatures
	session       bool
	sessionNeeded bool
}

func (f *streamFeatures) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	// The same bytes decoded twice: into the library's type, and for the
	// session element it misreads.
	var raw struct {
		Inner []byte `xml:",innerxml"`
	}
	if err := d.DecodeElement(&raw, &start); err != nil {
		return err
	}
	doc := append(append([]byte("<features xmlns='"+nsStream+"'>"), raw.Inner...), "</features>"...)
	if err := xml.Unmarshal(doc, &f.StreamFeatures); err != nil {
		return err
	}
	var sess struct {
		Session *struct {
			Optional *struct{} `xml:"optional"`
		} `xml:"urn:ietf:params:xml:ns:xmpp-session session"`
	}
	if err := xml.Unmarshal(doc, &sess); err != nil {
		return err
	}
	f.session = sess.Session != nil
	f.sessionNeeded = f.session && sess.Session.Optional == nil
	return nil
}

// login runs the client opening on s and returns the bound full JID.
func (s *stream) login(acct auth.JID, o *Options) (string, error) {
	server := o.Address
	f, err := s.openClient(acct, false)
	if err != nil {
		return "", err
	}
	encrypted := false
	if _, ok := f.DoesStartTLS(); ok {
		if err := s.startTLS(acct.Domain, o); err != nil {
			return "", &TLSError{Domain: acct.Domain, Server: server, Err: err}
		}
		encrypted = true
		if f, err = s.openClient(acct, true); err != nil {
			return "", err
		}
	} else if !loopback(s.conn) {
		return "", &TLSError{Domain: acct.Domain, Server: server,
			Err: fmt.Errorf("the server does not offer STARTTLS: refusing to send the password of %s in clear (allowed only when the server's address is loopback)", acct.Bare())}
	}
	if err := s.authenticate(acct, o.Secret, f.Mechanisms.Mechanism, encrypted, server); err != nil {
		return "", err
	}
	// RFC 6120 6.4.6: after SASL success the stream restarts; the server
	// sends nothing more on the old one.
	if f, err = s.openClient(acct, encrypted); err != nil {
		return "", err
	}
	if f.Bind.XMLName.Local != "bind" {
		return "", errors.New("component: the server offers no resource binding after login")
	}
	bound, err := s.bind(acct)
	if err != nil {
		return "", err
	}
	if f.sessionNeeded {
		if err := s.negotiationIQ(&stanza.StreamSession{XMLName: xml.Name{Space: nsSession, Local: "session"}}, nil); err != nil {
			return "", fmt.Errorf("component: session: %w", err)
		}
	}
	// Available, priority 0: messages to the bare JID reach us too.
	if err := s.write([]byte("<presence/>")); err != nil {
		return "", err
	}
	return bound, nil
}

// loopback reports whether conn's peer is a loopback address.
func loopback(conn net.Conn) bool {
	if tc, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return tc.IP.IsLoopback()
	}
	return false
}

// write writes negotiation bytes (before the stream is shared, so without
// the write lock's bookkeeping).
func (s *stream) write(b []byte) error {
	_, err := s.conn.Write(b)
	return err
}

// openClient opens a client stream (again, after STARTTLS or SASL) with a
// fresh decoder, and reads the server's header and features.
func (s *stream) openClient(acct auth.JID, encrypted bool) (*streamFeatures, error) {
	s.dec = newDecoder(s.br)
	open := []byte(xml.Header[:len(xml.Header)-1] + "<stream:stream xmlns='" + nsClient +
		"' xmlns:stream='" + nsStream + "' version='1.0' to='")
	open = append(appendEscaped(open, acct.Domain), '\'')
	if encrypted {
		// RFC 6120 4.7.1: the initiating entity's address, once the stream
		// is protected.
		open = appendEscaped(append(open, " from='"...), acct.Bare())
		open = append(open, '\'')
	}
	open = append(open, '>')
	if err := s.write(open); err != nil {
		return nil, err
	}
	if _, err := s.readHeader(); err != nil {
		return nil, fmt.Errorf("component: opening a client stream: %w", err)
	}
	f := new(streamFeatures)
	if err := s.nextNegotiation(nsStream, "features", f); err != nil {
		return nil, fmt.Errorf("component: reading the stream features: %w", err)
	}
	return f, nil
}

// nextNegotiation decodes the next top-level element into v; it must be
// space local, else the error names what came. A stream error and a
// stream close end the negotiation.
func (s *stream) nextNegotiation(space, local string, v any) error {
	start, err := s.nextStart()
	if err != nil {
		return err
	}
	if start.Name.Space != space || start.Name.Local != local {
		return fmt.Errorf("expected <%s xmlns='%s'/>, got <%s xmlns='%s'>", local, space, start.Name.Local, start.Name.Space)
	}
	return s.dec.DecodeElement(v, &start)
}

// startTLS upgrades the connection (RFC 6120 5.4).
func (s *stream) startTLS(domain string, o *Options) error {
	if err := s.write([]byte("<starttls xmlns='" + nsTLS + "'/>")); err != nil {
		return err
	}
	start, err := s.nextStart()
	if err != nil {
		return err
	}
	if err := s.dec.Skip(); err != nil {
		return err
	}
	if start.Name.Space != nsTLS || start.Name.Local != "proceed" {
		return fmt.Errorf("the server answered STARTTLS with <%s/>", start.Name.Local)
	}
	// Bytes that came after <proceed/> in clear would be read as if they
	// came over TLS: a man in the middle's injection (CVE-2011-0411).
	if s.br.Buffered() > 0 {
		return errors.New("the server sent data in clear after <proceed/>")
	}
	tc := tls.Client(s.conn, &tls.Config{
		ServerName:         domain,
		InsecureSkipVerify: o.InsecureSkipVerify, // xmpp_verify_cert_validity=false, warned about at start-up
		RootCAs:            o.RootCAs,
		MinVersion:         tls.VersionTLS12,
	})
	if err := tc.Handshake(); err != nil {
		return err
	}
	s.conn = tc
	s.lim.r = tc
	s.br.Reset(s.lim)
	return nil
}

// saslFailure is a SASL <failure/>. stanza.SASLFailure loses the
// condition (its Any field has no tag).
type saslFailure struct {
	Kids []struct {
		XMLName xml.Name
		Text    string `xml:",chardata"`
	} `xml:",any"`
}

func (f *saslFailure) condition() (cond, text string) {
	for _, k := range f.Kids {
		if k.XMLName.Local == "text" {
			text = strings.TrimSpace(k.Text)
		} else if cond == "" {
			cond = k.XMLName.Local
		}
	}
	if cond == "" {
		cond = "not-authorized"
	}
	return cond, text
}

// authenticate runs SASL: SCRAM-SHA-256, else SCRAM-SHA-1, else PLAIN,
// whichever the server offers first in that order. PLAIN, which sends
// the password itself, only over TLS or to a loopback address (login
// stopped before otherwise; checked again here).
func (s *stream) authenticate(acct auth.JID, password string, offered []string, encrypted bool, server string) error {
	has := func(m string) bool {
		for _, o := range offered {
			if strings.EqualFold(strings.TrimSpace(o), m) {
				return true
			}
		}
		return false
	}
	var mech string
	for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"} {
		if has(m) {
			mech = m
			break
		}
	}
	if mech == "PLAIN" && !encrypted && !loopback(s.conn) {
		mech = ""
	}
	if mech == "" {
		return &AuthError{Account: acct.Bare(), Server: server,
			Err: fmt.Errorf("the server offers no SASL mechanism we use (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN): %v", offered)}
	}
	refused := func(f *saslFailure) error {
		cond, text := f.condition()
		return &LoginError{Account: acct.Bare(), Server: server, Condition: cond, Text: text}
	}
	if mech == "PLAIN" {
		msg := "\x00" + acct.Local + "\x00" + password
		if err := s.sendSASL(mech, []byte(msg)); err != nil {
			return err
		}
		step, f, err := s.readSASL()
		if err != nil {
			return err
		}
		if f != nil {
			return refused(f)
		}
		if !step.success {
			return fmt.Errorf("component: %s sent a challenge to PLAIN", server)
		}
		return nil
	}

	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fmt.Errorf("component: SCRAM nonce: %w", err)
	}
	sc := newSCRAM(mech, acct.Local, password, base64.RawStdEncoding.EncodeToString(nonce[:]))
	if err := s.sendSASL(mech, sc.clientFirst()); err != nil {
		return err
	}
	// server-first, then the final message with our proof.
	ch, f, err := s.readSASL()
	if err != nil {
		return err
	}
	if f != nil {
		return refused(f)
	}
	if ch.success {
		return fmt.Errorf("component: %s claimed SASL success before %s was done", server, mech)
	}
	final, err := sc.clientFinal(ch.data)
	if err != nil {
		return &AuthError{Account: acct.Bare(), Server: server, Err: fmt.Errorf("%s: %w", mech, err)}
	}
	if err := s.sendSASL("", final); err != nil {
		return err
	}
	ch, f, err = s.readSASL()
	if err != nil {
		return err
	}
	if f != nil {
		return refused(f)
	}
	// The server proves it knows the password too: v= on <success/>, or
	// (older servers) in one more challenge, answered with an empty
	// response before <success/>.
	if err := sc.verify(ch.data); err != nil {
		return &AuthError{Account: acct.Bare(), Server: server, Err: fmt.Errorf("%s: %w", mech, err)}
	}
	if !ch.success {
		if err := s.sendSASL("", nil); err != nil {
			return err
		}
		ch, f, err = s.readSASL()
		if err != nil {
			return err
		}
		if f != nil {
			return refused(f)
		}
		if !ch.success {
			return fmt.Errorf("component: %s from %s: a challenge after the server's proof", mech, server)
		}
	}
	return nil
}

// sendSASL writes <auth/> (with mechanism) or <response/> (mech "")
// carrying data in base64; "=" stands for empty data on <auth/> (RFC 6120
// 6.4.2).
func (s *stream) sendSASL(mech string, data []byte) error {
	enc := base64.StdEncoding.EncodeToString(data) // base64 needs no escaping
	if mech == "" {
		// stanza.SASLAuth would write an empty mechanism attribute.
		return s.write([]byte("<response xmlns='" + nsSASL + "'>" + enc + "</response>"))
	}
	if enc == "" {
		enc = "="
	}
	b, err := xml.Marshal(&stanza.SASLAuth{Mechanism: mech, Value: enc})
	if err != nil {
		return err
	}
	return s.write(b)
}

// saslStep is a <challenge/> or <success/> with its decoded data.
type saslStep struct {
	success bool
	data    []byte
}

// readSASL reads a challenge, a success or a failure.
func (s *stream) readSASL() (*saslStep, *saslFailure, error) {
	start, err := s.nextStart()
	if err != nil {
		return nil, nil, err
	}
	if start.Name.Space != nsSASL {
		return nil, nil, fmt.Errorf("component: expected a SASL answer, got <%s xmlns='%s'>", start.Name.Local, start.Name.Space)
	}
	switch start.Name.Local {
	case "failure":
		f := new(saslFailure)
		if err := s.dec.DecodeElement(f, &start); err != nil {
			return nil, nil, err
		}
		return nil, f, nil
	case "challenge", "success":
		var text struct {
			Data string `xml:",chardata"`
		}
		if err := s.dec.DecodeElement(&text, &start); err != nil {
			return nil, nil, err
		}
		t := strings.TrimSpace(text.Data)
		var data []byte
		if t != "" && t != "=" {
			if data, err = base64.StdEncoding.DecodeString(t); err != nil {
				return nil, nil, fmt.Errorf("component: SASL %s: %w", start.Name.Local, err)
			}
		}
		return &saslStep{success: start.Name.Local == "success", data: data}, nil, nil
	}
	return nil, nil, fmt.Errorf("component: unexpected SASL element <%s/>", start.Name.Local)
}

// bind binds the account's resource (or one the server picks) and
// returns the full JID bound, which must be the account's.
func (s *stream) bind(acct auth.JID) (string, error) {
	var res struct {
		Bind stanza.Bind `xml:"urn:ietf:params:xml:ns:xmpp-bind bind"`
	}
	if err := s.negotiationIQ(&stanza.Bind{XMLName: xml.Name{Space: nsBind, Local: "bind"}, Resource: acct.Resource}, &res); err != nil {
		return "", fmt.Errorf("component: binding resource %q for %s: %w", acct.Resource, acct.Bare(), err)
	}
	j, err := auth.ParseJID(strings.TrimSpace(res.Bind.Jid))
	if err != nil || j.Bare() != acct.Bare() || j.Resource == "" {
		return "", fmt.Errorf("component: the server bound %q for %s", res.Bind.Jid, acct.Bare())
	}
	return j.String(), nil
}

// negotiationIQ sends an iq set with payload and waits for its answer; a
// result's children are decoded into res (if not nil) as if res were the
// iq. It runs before the reader does: whatever else the server sends
// meanwhile is dropped.
func (s *stream) negotiationIQ(payload stanza.IQPayload, res any) error {
	var idb [9]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return err
	}
	id := base64.RawURLEncoding.EncodeToString(idb[:])
	b, err := xml.Marshal(&stanza.IQ{XMLName: xml.Name{Local: "iq"}, Attrs: stanza.Attrs{Type: stanza.IQTypeSet, Id: id}, Payload: payload})
	if err != nil {
		return err
	}
	if err := s.write(b); err != nil {
		return err
	}
	for {
		start, err := s.nextStart()
		if err != nil {
			return err
		}
		if start.Name.Local != "iq" || attrOf(start, "id") != id {
			if err := s.dec.Skip(); err != nil {
				return err
			}
			continue
		}
		switch attrOf(start, "type") {
		case "result":
			if res == nil {
				return s.dec.Skip()
			}
			return s.dec.DecodeElement(res, &start)
		case "error":
			in := new(inStanza)
			if err := s.dec.DecodeElement(in, &start); err != nil {
				return err
			}
			cond, _ := in.condition()
			if cond == "" {
				cond = "an error without a condition"
			}
			return errors.New(cond)
		}
		return fmt.Errorf("an iq of type %q", attrOf(start, "type"))
	}
}

// attrOf returns the unqualified attribute name of start, or "".
func attrOf(start xml.StartElement, name string) string {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}
