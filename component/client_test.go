package component

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// The SCRAM examples of RFC 5802 (SHA-1) and RFC 7677 (SHA-256), byte
// for byte.
func TestSCRAMVectors(t *testing.T) {
	cases := []struct {
		name, mech, nonce, clientFirst, serverFirst, clientFinal, serverFinal string
	}{
		{"RFC 5802", "SCRAM-SHA-1", "fyko+d2lbbFgONRv9qkxdawL",
			"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
			"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="},
		{"RFC 7677", "SCRAM-SHA-256", "rOprNGfwEbeRWgbNEkqO",
			"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := newSCRAM(tc.mech, "user", "pencil", tc.nonce)
			if got := string(sc.clientFirst()); got != tc.clientFirst {
				t.Fatalf("client-first %q, want %q", got, tc.clientFirst)
			}
			final, err := sc.clientFinal([]byte(tc.serverFirst))
			if err != nil || string(final) != tc.clientFinal {
				t.Fatalf("client-final %q (%v), want %q", final, err, tc.clientFinal)
			}
			if err := sc.verify([]byte(tc.serverFinal)); err != nil {
				t.Fatalf("the RFC's server signature: %v", err)
			}
			bad := []byte(tc.serverFinal[:len(tc.serverFinal)-6] + "AAAAA=")
			if err := sc.verify(bad); err == nil {
				t.Fatal("a wrong server signature passed")
			}
		})
	}
}

func TestSCRAMRefusesBadServerMessages(t *testing.T) {
	salt := base64.StdEncoding.EncodeToString([]byte("salt"))
	cases := []struct{ name, first, final string }{
		{"nonce not ours", "r=other-nonce-xyz,s=" + salt + ",i=4096", ""},
		{"nonce not extended", "r=abc,s=" + salt + ",i=4096", ""},
		{"mandatory extension", "m=ext,r=abcdef,s=" + salt + ",i=4096", ""},
		{"no salt", "r=abcdef,s=,i=4096", ""},
		{"zero iterations", "r=abcdef,s=" + salt + ",i=0", ""},
		{"huge iteration count", "r=abcdef,s=" + salt + ",i=999999999", ""},
		{"malformed", "r=abcdef,garbage", ""},
		{"server error", "r=abcdef,s=" + salt + ",i=1", "e=invalid-proof"},
		{"no signature", "r=abcdef,s=" + salt + ",i=1", "x=1"},
		{"empty final", "r=abcdef,s=" + salt + ",i=1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := newSCRAM("SCRAM-SHA-1", "u", "p", "abc")
			sc.clientFirst()
			_, err := sc.clientFinal([]byte(tc.first))
			if err == nil {
				err = sc.verify([]byte(tc.final))
			}
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if err := newSCRAM("SCRAM-SHA-1", "u", "p", "abc").verify([]byte("v=AAAA")); err == nil {
		t.Fatal("a server-final before our proof passed")
	}
	if got := saslName("a=b,c"); got != "a=3Db=2Cc" {
		t.Fatalf("saslName %q", got)
	}
}

// approveClient asks alice on a client-mode stream and answers from her
// phone to the gateway's bound JID; our stanzas carry no from.
func approveClient(t *testing.T, g *Gateway, fc *fakeConn, txn string) {
	t.Helper()
	waitReady(t, g)
	done := confirmAsync(g, context.Background(), alicePhone, txn, time.Minute)
	q := fc.expect(t)
	if q.From != "" || q.To != alicePhone || q.Confirm == nil || q.Confirm.ID != txn {
		t.Fatalf("confirm iq from %q to %q: want no from, to %s, confirm %s", q.From, q.To, alicePhone, txn)
	}
	fc.send(t, fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s'/>", q.ID, alicePhone, fc.domain))
	if err := waitErr(t, done); err != nil {
		t.Fatalf("approval: %v", err)
	}
}

func TestClientModeLogin(t *testing.T) {
	cert, pool := selfSigned(t, "localhost")
	cases := []struct {
		name    string
		server  func(*fakeC2S)
		gateway func(*Options)
		want    []string // server events, in order
		wantNot []string
		bound   string
	}{
		{"STARTTLS, SCRAM-SHA-1, configured resource",
			func(f *fakeC2S) { f.cert = cert }, nil,
			[]string{"tls", "auth SCRAM-SHA-1", "authed SCRAM-SHA-1", "bound gateway@localhost/auth", "presence"},
			[]string{"auth PLAIN", "session", "odd presence"}, "gateway@localhost/auth"},
		{"SCRAM-SHA-256 preferred",
			func(f *fakeC2S) { f.cert = cert; f.mechs = []string{"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"} }, nil,
			[]string{"tls", "authed SCRAM-SHA-256", "presence"}, []string{"auth SCRAM-SHA-1", "auth PLAIN"}, "gateway@localhost/auth"},
		{"PLAIN over TLS when there is no SCRAM",
			func(f *fakeC2S) { f.cert = cert; f.mechs = []string{"PLAIN"} }, nil,
			[]string{"tls", "authed PLAIN", "presence"}, nil, "gateway@localhost/auth"},
		{"STARTTLS required",
			func(f *fakeC2S) { f.cert = cert; f.tlsRequired = true }, nil,
			[]string{"tls", "authed SCRAM-SHA-1"}, nil, "gateway@localhost/auth"},
		{"certificate verified against the given roots",
			func(f *fakeC2S) { f.cert = cert },
			func(o *Options) { o.InsecureSkipVerify = false; o.RootCAs = pool },
			[]string{"tls", "authed SCRAM-SHA-1"}, nil, "gateway@localhost/auth"},
		{"no STARTTLS on loopback: clear text allowed",
			nil, nil,
			[]string{"authed SCRAM-SHA-1", "presence"}, []string{"tls"}, "gateway@localhost/auth"},
		{"PLAIN in clear on loopback",
			func(f *fakeC2S) { f.mechs = []string{"PLAIN"} }, nil,
			[]string{"authed PLAIN"}, []string{"tls"}, "gateway@localhost/auth"},
		{"resource assigned by the server",
			func(f *fakeC2S) { f.cert = cert },
			func(o *Options) { o.Account = "Gateway@LocalHost" },
			[]string{"bound gateway@localhost/srv-assigned"}, nil, "gateway@localhost/srv-assigned"},
		{"server signature in a last challenge",
			func(f *fakeC2S) { f.cert = cert; f.v2Challenge = true }, nil,
			[]string{"authed SCRAM-SHA-1", "presence"}, nil, "gateway@localhost/auth"},
		{"required RFC 3921 session is opened",
			func(f *fakeC2S) { f.session = "required" }, nil,
			[]string{"session", "presence"}, nil, "gateway@localhost/auth"},
		{"optional session is skipped",
			func(f *fakeC2S) { f.session = "optional" }, nil,
			[]string{"presence"}, []string{"session"}, "gateway@localhost/auth"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeC2S(t, tc.server)
			g := startClientGateway(t, fs, tc.gateway)
			fc := fs.conn(t)
			if fc.domain != tc.bound {
				t.Fatalf("bound %q, want %q", fc.domain, tc.bound)
			}
			approveClient(t, g, fc, "LOGIN-1")
			if s := g.cur.Load(); s == nil || s.self != tc.bound {
				t.Fatalf("the stream's own JID is not %s", tc.bound)
			}
			events := strings.Join(fs.eventList(), " | ")
			for _, w := range tc.want {
				if !fs.saw(w) {
					t.Errorf("the server never saw %q: %s", w, events)
				}
			}
			for _, w := range tc.wantNot {
				if fs.saw(w) {
					t.Errorf("the server saw %q: %s", w, events)
				}
			}
		})
	}
}

// Refusals say what is wrong, are retried with backoff, never leave the
// gateway ready, and never log the password.
func TestClientModeRefusals(t *testing.T) {
	cert, _ := selfSigned(t, "localhost")
	other, _ := selfSigned(t, "other.example")
	cases := []struct {
		name    string
		server  func(*fakeC2S)
		gateway func(*Options)
		log     func(addr string) string
		noAuth  bool // the password must not have been offered at all
	}{
		{"wrong password (SCRAM)", nil, func(o *Options) { o.Secret = "hunter2-wrong" },
			func(addr string) string {
				return "login as gateway@localhost refused by " + addr + ": not-authorized (check xmpp_secret)"
			}, false},
		{"wrong password (PLAIN over TLS), with the server's text",
			func(f *fakeC2S) { f.cert = cert; f.mechs = []string{"PLAIN"} }, func(o *Options) { o.Secret = "hunter2-wrong" },
			func(addr string) string {
				return "login as gateway@localhost refused by " + addr + ": not-authorized (check xmpp_secret; the server said: wrong password)"
			}, false},
		{"account disabled", func(f *fakeC2S) { f.refuse = func(int) string { return "account-disabled" } }, nil,
			func(addr string) string {
				return "login as gateway@localhost refused by " + addr + ": account-disabled (check xmpp_secret)"
			}, false},
		{"self-signed certificate with verification on",
			func(f *fakeC2S) { f.cert = cert }, func(o *Options) { o.InsecureSkipVerify = false },
			func(addr string) string {
				return "TLS with " + addr + " for localhost failed: tls: failed to verify certificate"
			}, true},
		{"certificate for another name",
			func(f *fakeC2S) { f.cert = other }, func(o *Options) { o.InsecureSkipVerify = false },
			func(string) string { return "set xmpp_verify_cert_validity=false" }, true},
		{"STARTTLS refused by the server",
			func(f *fakeC2S) { f.cert = cert; f.tlsFailure = true }, nil,
			func(addr string) string {
				return "TLS with " + addr + " for localhost failed: the server answered STARTTLS with <failure/>"
			}, true},
		{"wrong server signature",
			func(f *fakeC2S) { f.cert = cert; f.badProof = true }, nil,
			func(addr string) string {
				return "login as gateway@localhost at " + addr + ": SCRAM-SHA-1: the server's signature is wrong"
			}, false},
		{"no mechanism we use",
			func(f *fakeC2S) { f.mechs = []string{"X-OAUTH2", "SCRAM-SHA-1-PLUS"} }, nil,
			func(addr string) string { return "offers no SASL mechanism we use" }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeC2S(t, tc.server)
			var logs logBuffer
			g := startClientGateway(t, fs, func(o *Options) {
				if tc.gateway != nil {
					tc.gateway(o)
				}
				o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			logs.waitFor(t, tc.log(fs.addr()))
			deadline := time.Now().Add(10 * time.Second)
			for strings.Count(logs.String(), "level=ERROR") < 3 {
				if time.Now().After(deadline) {
					t.Fatalf("not retried, or not logged as an error:\n%s", logs.String())
				}
				time.Sleep(time.Millisecond)
			}
			if g.Ready() == nil {
				t.Fatal("ready without a login")
			}
			if strings.Contains(logs.String(), "hunter2") || strings.Contains(logs.String(), fs.password) {
				t.Fatal("the password reached the log")
			}
			if tc.noAuth && (fs.saw("auth PLAIN") || fs.saw("auth SCRAM-SHA-1")) {
				t.Fatalf("credentials offered: %v", fs.eventList())
			}
			err := waitErr(t, confirmAsync(g, context.Background(), alicePhone, "A1", time.Minute))
			if !errors.Is(err, auth.ErrNotConnected) {
				t.Fatalf("Confirm while not logged in: %v, want ErrNotConnected", err)
			}
		})
	}
}

// remoteConn is a net.Conn whose peer seems to be elsewhere.
type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.remote }

// Without STARTTLS, a server that is not on loopback never gets the
// password, by any mechanism.
func TestClientModeRefusesClearTextBeyondLoopback(t *testing.T) {
	for _, mechs := range [][]string{{"PLAIN"}, {"SCRAM-SHA-1", "PLAIN"}} {
		t.Run(strings.Join(mechs, ","), func(t *testing.T) {
			fs := newFakeC2S(t, func(f *fakeC2S) { f.mechs = mechs })
			ours, theirs := net.Pipe()
			defer ours.Close()
			served := make(chan struct{})
			go func() { defer close(served); fs.serve(theirs, 1) }()
			conn := remoteConn{Conn: ours, remote: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5222}}
			o := Options{Address: "xmpp.example.org:5222"}
			o.setDefaults()
			s := newStream(conn, &o)
			acct, _ := auth.ParseJID("gateway@localhost/auth")
			_ = ours.SetDeadline(time.Now().Add(5 * time.Second))
			_, err := s.login(acct, &o)
			if err == nil || !strings.Contains(err.Error(), "TLS with xmpp.example.org:5222 for localhost failed: the server does not offer STARTTLS: refusing to send the password of gateway@localhost in clear") {
				t.Fatalf("got %v", err)
			}
			_ = ours.Close()
			<-served
			for _, e := range fs.eventList() {
				if strings.Contains(e, "auth") {
					t.Fatalf("the server saw %q", e)
				}
			}
		})
	}
}

// Data sent in clear after <proceed/> would be read as if it came over
// TLS (STARTTLS command injection): the login stops.
func TestClientModeRefusesDataAfterProceed(t *testing.T) {
	ours, theirs := net.Pipe()
	defer ours.Close()
	defer theirs.Close()
	go func() {
		buf := make([]byte, 4096)
		_, _ = theirs.Read(buf) // stream header
		_, _ = fmt.Fprintf(theirs, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='%s' id='x' version='1.0'>"+
			"<stream:features><starttls xmlns='%s'/></stream:features>", nsStream, nsTLS)
		_, _ = theirs.Read(buf) // <starttls/>
		_, _ = fmt.Fprintf(theirs, "<proceed xmlns='%s'/><stream:features/>", nsTLS)
	}()
	o := Options{Address: "127.0.0.1:5222"}
	o.setDefaults()
	s := newStream(ours, &o)
	_ = ours.SetDeadline(time.Now().Add(5 * time.Second))
	acct, _ := auth.ParseJID("gateway@localhost")
	_, err := s.login(acct, &o)
	if err == nil || !strings.Contains(err.Error(), "data in clear after <proceed/>") {
		t.Fatalf("got %v", err)
	}
}

func TestClientModeReconnectAfterFaults(t *testing.T) {
	cert, _ := selfSigned(t, "localhost")
	faults := []struct {
		name string
		do   func(fc *fakeConn, t *testing.T)
	}{
		{"stream error (conflict: another login took the resource)", func(fc *fakeConn, t *testing.T) {
			fc.send(t, "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
		}},
		{"server-side stream close", func(fc *fakeConn, t *testing.T) { fc.send(t, "</stream:stream>") }},
		{"connection reset", func(fc *fakeConn, t *testing.T) { fc.close() }},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			fs := newFakeC2S(t, func(s *fakeC2S) { s.cert = cert })
			g := startClientGateway(t, fs, nil)
			fc := fs.conn(t)
			approveClient(t, g, fc, "BEFORE")
			// A request sent before the fault is answered after it.
			pending := confirmAsync(g, context.Background(), "bob@localhost/x", "KEEP", time.Minute)
			q := fc.expect(t)
			f.do(fc, t)
			fc2 := fs.conn(t)
			approveClient(t, g, fc2, "AFTER")
			fc2.send(t, fmt.Sprintf("<iq type='result' id='%s' from='bob@localhost/x' to='%s'/>", q.ID, fc2.domain))
			if err := waitErr(t, pending); err != nil {
				t.Fatalf("answer after the reconnect: %v", err)
			}
		})
	}
}

// Pings go to the account's server, with no from.
func TestClientModePings(t *testing.T) {
	fs := newFakeC2S(t, nil)
	var logs logBuffer
	g := startClientGateway(t, fs, func(o *Options) {
		o.PingInterval = 5 * time.Millisecond
		o.PingTimeout = 50 * time.Millisecond
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	fc := fs.conn(t)
	waitReady(t, g)
	_ = fc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for pinged := 0; pinged < 3; {
		in := new(inStanza)
		if err := fc.next(in); err != nil {
			t.Fatal(err)
		}
		if len(in.Other) == 1 && in.Other[0].XMLName.Space == nsPing {
			if in.To != "localhost" || in.From != "" || in.Type != "get" {
				t.Fatalf("ping %+v: want a get to localhost without from", in)
			}
			fc.send(t, fmt.Sprintf("<iq type='result' id='%s' from='localhost' to='%s'/>", in.ID, fc.domain))
			pinged++
		}
	}
	// Unanswered pings end the stream; the gateway logs in again.
	logs.waitFor(t, "no answer to a ping")
	fc2 := fs.conn(t)
	_ = fc2
	waitReady(t, g)
}

func TestClientModeManners(t *testing.T) {
	fs := newFakeC2S(t, nil)
	g := startClientGateway(t, fs, func(o *Options) { o.Version = "1.2.3" })
	fc := fs.conn(t)
	waitReady(t, g)
	me := fc.domain
	cases := []struct {
		name, send string
		check      func(t *testing.T, in *inStanza, raw string)
	}{
		{"disco#info: an automated client", "<iq type='get' id='d1' from='alice@localhost/x' to='" + me + "'><query xmlns='" + nsDiscoInfo + "'/></iq>",
			func(t *testing.T, in *inStanza, raw string) {
				for _, f := range []string{NSHTTPAuth, nsPing, nsVersion, "category='client'", "type='bot'"} {
					if !strings.Contains(strings.ReplaceAll(raw, `"`, "'"), f) {
						t.Errorf("disco#info lacks %s: %s", f, raw)
					}
				}
				if in.From != "" || in.To != "alice@localhost/x" {
					t.Errorf("disco#info reply from %q to %q", in.From, in.To)
				}
			}},
		{"ping", "<iq type='get' id='p1' from='alice@localhost/x' to='" + me + "'><ping xmlns='urn:xmpp:ping'/></iq>",
			func(t *testing.T, in *inStanza, raw string) {
				if in.Type != "result" || in.To != "alice@localhost/x" || in.From != "" {
					t.Errorf("ping: %s", raw)
				}
			}},
		{"version", "<iq type='get' id='v1' from='alice@localhost/x' to='" + me + "'><query xmlns='jabber:iq:version'/></iq>",
			func(t *testing.T, in *inStanza, raw string) {
				if !strings.Contains(raw, "<version>1.2.3</version>") {
					t.Errorf("version: %s", raw)
				}
			}},
		{"roster push from the server", "<iq type='set' id='r1' to='" + me + "'><query xmlns='jabber:iq:roster'><item jid='alice@localhost' subscription='from'/></query></iq>",
			func(t *testing.T, in *inStanza, raw string) {
				if in.Type != "result" || in.ID != "r1" {
					t.Errorf("roster push: %s", raw)
				}
			}},
		{"roster push from our bare JID", "<iq type='set' id='r2' from='gateway@localhost' to='" + me + "'><query xmlns='jabber:iq:roster'/></iq>",
			func(t *testing.T, in *inStanza, raw string) {
				if in.Type != "result" || in.ID != "r2" {
					t.Errorf("roster push: %s", raw)
				}
			}},
		{"roster push from someone else", "<iq type='set' id='r3' from='bob@localhost/x' to='" + me + "'><query xmlns='jabber:iq:roster'/></iq>",
			func(t *testing.T, in *inStanza, raw string) {
				if c, _ := in.condition(); in.Type != "error" || c != "service-unavailable" {
					t.Errorf("forged roster push: %s", raw)
				}
			}},
		{"subscribe", "<presence type='subscribe' from='alice@localhost' to='gateway@localhost'/>",
			func(t *testing.T, in *inStanza, raw string) {
				if in.XMLName.Local != "presence" || in.Type != "subscribed" || in.To != "alice@localhost" || in.From != "" {
					t.Errorf("subscribe: %s", raw)
				}
				if in2, raw2 := fc.expectRaw(t); in2.Type != "" || in2.To != "alice@localhost" || in2.From != "" {
					t.Errorf("subscribe: want available presence after subscribed, got %s", raw2)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc.send(t, tc.send)
			in, raw := fc.expectRaw(t)
			tc.check(t, in, raw)
		})
	}
	// Our own presence, reflected by the server, gets no answer.
	fc.send(t, "<presence from='"+me+"' to='"+me+"'/>")
	fc.sync(t)
}
