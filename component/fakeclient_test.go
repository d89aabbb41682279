package component

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"hash"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeC2S is a scripted RFC 6120 client port on 127.0.0.1:0, for client
// mode: it offers STARTTLS when it has a certificate, runs SASL (PLAIN,
// SCRAM-SHA-1, SCRAM-SHA-256; its own server side, written from the RFCs
// apart from scram.go), binds a resource, waits for the initial presence,
// and then hands the stream to the test as a *fakeConn on conns.
type fakeC2S struct {
	t        *testing.T
	ln       net.Listener
	domain   string
	user     string
	password string

	cert        *tls.Certificate // nil: no STARTTLS
	tlsRequired bool
	tlsFailure  bool     // answer <starttls/> with <failure/>
	mechs       []string // offered; default SCRAM-SHA-1 and PLAIN
	badProof    bool     // send a wrong server signature
	v2Challenge bool     // send v= in a challenge, not in <success/>
	session     string   // "" none, "optional" or "required"
	resource    string   // assigned when the client asks for none
	// refuse gives a SASL failure condition for the nth connection ("" =
	// check the password).
	refuse func(n int) string

	conns chan *fakeConn

	mu     sync.Mutex
	n      int
	events []string // what each login did, "n:event"
}

func newFakeC2S(t *testing.T, mod func(*fakeC2S)) *fakeC2S {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeC2S{t: t, ln: ln, domain: "localhost", user: "gateway", password: "pass,word=1",
		mechs: []string{"SCRAM-SHA-1", "PLAIN"}, resource: "srv-assigned", conns: make(chan *fakeConn, 16)}
	if mod != nil {
		mod(fs)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fs.mu.Lock()
			fs.n++
			n := fs.n
			fs.mu.Unlock()
			t.Cleanup(func() { _ = c.Close() })
			go fs.serve(c, n)
		}
	}()
	return fs
}

func (fs *fakeC2S) addr() string { return fs.ln.Addr().String() }

func (fs *fakeC2S) event(n int, e string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.events = append(fs.events, fmt.Sprintf("%d:%s", n, e))
}

func (fs *fakeC2S) saw(e string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, x := range fs.events {
		if _, ev, _ := strings.Cut(x, ":"); ev == e {
			return true
		}
	}
	return false
}

// c2sConn is the server's side of one connection while it negotiates.
type c2sConn struct {
	c   net.Conn
	br  *bufio.Reader
	dec *xml.Decoder
}

func (cc *c2sConn) restart() { cc.dec = xml.NewDecoder(cc.br) }

func (cc *c2sConn) send(s string) { _, _ = io.WriteString(cc.c, s) }

// header reads the client's stream header and answers with ours.
func (cc *c2sConn) header(domain string, n int) bool {
	for {
		tok, err := cc.dec.Token()
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "stream" {
				return false
			}
			if attrOf(se, "version") != "1.0" || se.Name.Space != nsStream {
				return false
			}
			cc.send(fmt.Sprintf("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='%s' from='%s' id='c2s-%d' version='1.0'>", nsStream, domain, n))
			return true
		}
	}
}

// element reads the next top-level element as raw XML plus its name.
func (cc *c2sConn) element() (xml.StartElement, string, error) {
	for {
		tok, err := cc.dec.Token()
		if err != nil {
			return xml.StartElement{}, "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var raw struct {
				Inner string `xml:",innerxml"`
			}
			if err := cc.dec.DecodeElement(&raw, &t); err != nil {
				return t, "", err
			}
			return t, raw.Inner, nil
		case xml.EndElement:
			return xml.StartElement{}, "", io.EOF
		}
	}
}

func (fs *fakeC2S) features(tlsDone, authed bool) string {
	var b strings.Builder
	b.WriteString("<stream:features>")
	if !authed && fs.cert != nil && !tlsDone {
		b.WriteString("<starttls xmlns='" + nsTLS + "'>")
		if fs.tlsRequired {
			b.WriteString("<required/>")
		}
		b.WriteString("</starttls>")
	}
	if !authed && (tlsDone || !fs.tlsRequired) {
		b.WriteString("<mechanisms xmlns='" + nsSASL + "'>")
		for _, m := range fs.mechs {
			b.WriteString("<mechanism>" + m + "</mechanism>")
		}
		b.WriteString("</mechanisms>")
	}
	if authed {
		b.WriteString("<bind xmlns='" + nsBind + "'/>")
		switch fs.session {
		case "optional":
			b.WriteString("<session xmlns='" + nsSession + "'><optional/></session>")
		case "required":
			b.WriteString("<session xmlns='" + nsSession + "'/>")
		}
	}
	b.WriteString("</stream:features>")
	return b.String()
}

// serve negotiates one connection; on success it hands a fakeConn to the
// test. It works on any net.Conn (tests use net.Pipe too).
func (fs *fakeC2S) serve(c net.Conn, n int) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	cc := &c2sConn{c: c, br: bufio.NewReader(c)}
	cc.restart()
	fail := func(e string) { fs.event(n, e); _ = c.Close() }
	if !cc.header(fs.domain, n) {
		fail("bad header")
		return
	}
	cc.send(fs.features(false, false))
	tlsDone, sc := false, (*scramServer)(nil)
	for {
		start, inner, err := cc.element()
		if err != nil {
			fail("closed: " + err.Error())
			return
		}
		switch start.Name.Local {
		case "starttls":
			if fs.tlsFailure {
				cc.send("<failure xmlns='" + nsTLS + "'/></stream:stream>")
				fail("tls refused")
				return
			}
			cc.send("<proceed xmlns='" + nsTLS + "'/>")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*fs.cert}})
			if err := tc.Handshake(); err != nil {
				fail("tls handshake: " + err.Error())
				return
			}
			fs.event(n, "tls")
			tlsDone = true
			c = tc
			cc = &c2sConn{c: tc, br: bufio.NewReader(tc)}
			cc.restart()
			if !cc.header(fs.domain, n) {
				fail("bad header after tls")
				return
			}
			cc.send(fs.features(true, false))
		case "auth":
			mech := attrOf(start, "mechanism")
			fs.event(n, "auth "+mech)
			data, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(inner))
			cond := ""
			if fs.refuse != nil {
				cond = fs.refuse(n)
			}
			if cond != "" {
				cc.send("<failure xmlns='" + nsSASL + "'><" + cond + "/></failure>")
				continue
			}
			switch mech {
			case "PLAIN":
				if string(data) != "\x00"+fs.user+"\x00"+fs.password {
					cc.send("<failure xmlns='" + nsSASL + "'><not-authorized/><text>wrong password</text></failure>")
					continue
				}
				fs.authed(cc, n, tlsDone, mech)
				return
			case "SCRAM-SHA-1", "SCRAM-SHA-256":
				sc = newSCRAMServer(mech, fs.password)
				first, ok := sc.first(string(data))
				if !ok {
					cc.send("<failure xmlns='" + nsSASL + "'><malformed-request/></failure>")
					continue
				}
				cc.send("<challenge xmlns='" + nsSASL + "'>" + base64.StdEncoding.EncodeToString([]byte(first)) + "</challenge>")
			default:
				cc.send("<failure xmlns='" + nsSASL + "'><invalid-mechanism/></failure>")
			}
		case "response":
			if sc == nil {
				fail("response without auth")
				return
			}
			data, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(inner))
			if sc.done {
				fs.authed(cc, n, tlsDone, sc.mech)
				return
			}
			v, ok := sc.final(string(data))
			if !ok {
				cc.send("<failure xmlns='" + nsSASL + "'><not-authorized/></failure>")
				continue
			}
			if fs.badProof {
				v = "v=" + base64.StdEncoding.EncodeToString(make([]byte, len(sc.serverSig)))
			}
			msg := base64.StdEncoding.EncodeToString([]byte(v))
			if fs.v2Challenge {
				sc.done = true
				cc.send("<challenge xmlns='" + nsSASL + "'>" + msg + "</challenge>")
				continue
			}
			cc.send("<success xmlns='" + nsSASL + "'>" + msg + "</success>")
			fs.authed(cc, n, tlsDone, sc.mech)
			return
		default:
			fail("unexpected <" + start.Name.Local + ">")
			return
		}
	}
}

// authed goes on after SASL success: restart, bind, session, presence.
func (fs *fakeC2S) authed(cc *c2sConn, n int, tlsDone bool, mech string) {
	if mech == "PLAIN" || fs.v2Challenge {
		cc.send("<success xmlns='" + nsSASL + "'/>")
	}
	fs.event(n, "authed "+mech)
	cc.restart()
	if !cc.header(fs.domain, n) {
		fs.event(n, "bad header after auth")
		return
	}
	cc.send(fs.features(tlsDone, true))
	var bound string
	for {
		start, inner, err := cc.element()
		if err != nil {
			fs.event(n, "closed after auth: "+err.Error())
			return
		}
		switch {
		case start.Name.Local == "iq" && strings.Contains(inner, nsBind):
			var b struct {
				Resource string `xml:"resource"`
			}
			_ = xml.Unmarshal([]byte(inner), &b)
			if b.Resource == "" {
				b.Resource = fs.resource
			}
			bound = fs.user + "@" + fs.domain + "/" + b.Resource
			fs.event(n, "bound "+bound)
			cc.send(fmt.Sprintf("<iq type='result' id='%s'><bind xmlns='%s'><jid>%s</jid></bind></iq>", attrOf(start, "id"), nsBind, bound))
		case start.Name.Local == "iq" && strings.Contains(inner, nsSession):
			fs.event(n, "session")
			cc.send(fmt.Sprintf("<iq type='result' id='%s'/>", attrOf(start, "id")))
		case start.Name.Local == "presence":
			if attrOf(start, "to") != "" || attrOf(start, "type") != "" || attrOf(start, "from") != "" {
				fs.event(n, "odd presence")
			}
			fs.event(n, "presence")
			_ = cc.c.SetDeadline(time.Time{})
			fs.conns <- &fakeConn{c: cc.c, dec: cc.dec, domain: bound}
			return
		default:
			fs.event(n, "unexpected <"+start.Name.Local+"> after auth")
		}
	}
}

func (fs *fakeC2S) conn(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case c := <-fs.conns:
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("no login from the gateway; server events: %v", fs.eventList())
		return nil
	}
}

func (fs *fakeC2S) eventList() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.events...)
}

// scramServer is the server side of SCRAM, for the fake server.
type scramServer struct {
	mech      string
	h         func() hash.Hash
	password  string
	salt      []byte
	iter      int
	bare      string // client-first-message-bare
	srvFirst  string // server-first-message
	nonce     string
	serverSig []byte
	done      bool
}

func newSCRAMServer(mech, password string) *scramServer {
	h := sha1.New
	if mech == "SCRAM-SHA-256" {
		h = sha256.New
	}
	return &scramServer{mech: mech, h: h, password: password, salt: []byte("fake-salt-1234"), iter: 4096}
}

func (s *scramServer) first(msg string) (string, bool) {
	bare, ok := strings.CutPrefix(msg, "n,,")
	if !ok {
		return "", false
	}
	s.bare = bare
	i := strings.Index(bare, ",r=")
	if i < 0 || !strings.HasPrefix(bare, "n=") {
		return "", false
	}
	s.nonce = bare[i+3:] + "srv-nonce"
	s.srvFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.salt) + ",i=" + fmt.Sprint(s.iter)
	return s.srvFirst, true
}

func (s *scramServer) mac(key []byte, msg string) []byte {
	m := hmac.New(s.h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// final checks the client's proof and returns "v=..." on success.
func (s *scramServer) final(msg string) (string, bool) {
	withoutProof, proofB64, ok := strings.Cut(msg, ",p=")
	if !ok || withoutProof != "c=biws,r="+s.nonce {
		return "", false
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil {
		return "", false
	}
	salted, _ := pbkdf2.Key(s.h, s.password, s.salt, s.iter, s.h().Size())
	clientKey := s.mac(salted, "Client Key")
	sum := s.h()
	sum.Write(clientKey)
	stored := sum.Sum(nil)
	auth := s.bare + "," + s.srvFirst + "," + withoutProof
	sig := s.mac(stored, auth)
	if len(proof) != len(sig) {
		return "", false
	}
	got := make([]byte, len(sig))
	for i := range sig {
		got[i] = proof[i] ^ sig[i]
	}
	sum = s.h()
	sum.Write(got)
	if !hmac.Equal(sum.Sum(nil), stored) {
		return "", false
	}
	s.serverSig = s.mac(s.mac(salted, "Server Key"), auth)
	return "v=" + base64.StdEncoding.EncodeToString(s.serverSig), true
}

// selfSigned returns a certificate for names, and a pool that trusts it.
func selfSigned(t *testing.T, names ...string) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// startClientGateway runs a gateway in client mode against fs until the
// test ends.
func startClientGateway(t *testing.T, fs *fakeC2S, mod func(*Options)) *Gateway {
	t.Helper()
	o := Options{
		Account: "gateway@localhost/auth", Secret: fs.password, Address: fs.addr(),
		InsecureSkipVerify: true,
		PingInterval:       time.Hour, BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		DialTimeout: 5 * time.Second, Texts: testTexts{},
		Logger: testLogger(t),
	}
	if mod != nil {
		mod(&o)
	}
	g := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return g
}
