package prosodytest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/prosodytest"
	"github.com/xmpp-http-auth/http-auth/internal/xmpptest"
)

var users = map[string]string{"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}

func start(t *testing.T) *prosodytest.Server {
	t.Helper()
	t0 := time.Now()
	s := prosodytest.Start(t, prosodytest.Options{Users: users, GenerationalGC: true})
	t.Logf("Prosody up in %v (c2s %s, component %s)", time.Since(t0).Round(time.Millisecond), s.C2SAddr, s.ComponentAddr)
	return s
}

func login(t *testing.T, s *prosodytest.Server, user, resource string) *xmpptest.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := xmpptest.Dial(ctx, s.C2SAddr, user+"@"+s.Domain, users[user], resource)
	if err != nil {
		t.Fatalf("login %s: %v\n%s", user, err, s.LogTail())
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// next waits for the next stanza that is not a presence.
func next(t *testing.T, c *xmpptest.Client) xmpptest.Stanza {
	t.Helper()
	st, err := c.NextMatch(waitCtx(t), func(s xmpptest.Stanza) bool { return s.Name != "presence" })
	if err != nil {
		t.Fatalf("%s: %v", c.JID(), err)
	}
	return st
}

// nextID waits for the stanza with the given id.
func nextID(t *testing.T, c *xmpptest.Client, id string) xmpptest.Stanza {
	t.Helper()
	st, err := c.NextMatch(waitCtx(t), func(s xmpptest.Stanza) bool { return s.ID == id })
	if err != nil {
		t.Fatalf("%s waiting for id %q: %v", c.JID(), id, err)
	}
	return st
}

func TestClients(t *testing.T) {
	t.Parallel()
	s := start(t)
	alice := login(t, s, "alice", "laptop")
	bob := login(t, s, "bob", "phone")
	if got, want := bob.JID(), "bob@localhost/phone"; got != want {
		t.Errorf("bound JID = %q, want %q", got, want)
	}
	const url = "https://example.org/a?x=1&y='2'<\"3\">"

	t.Run("chat message", func(t *testing.T) {
		body := "hello & <welcome> 'bob' \"é\"\n"
		if err := alice.SendMessage(bob.Bare(), body); err != nil {
			t.Fatal(err)
		}
		st := next(t, bob)
		if st.Name != "message" || st.Type != "chat" || st.Body() != body || st.From != alice.JID() {
			t.Errorf("bob got %s, want a chat message from %s with body %q", st.Raw, alice.JID(), body)
		}
	})

	t.Run("iq confirm approved", func(t *testing.T) {
		id, err := alice.SendConfirmIQ(bob.JID(), "CODE-1", "GET", url)
		if err != nil {
			t.Fatal(err)
		}
		req := next(t, bob)
		if req.Name != "iq" || req.Type != "get" || req.ID != id || !req.HasConfirm() ||
			req.ConfirmID() != "CODE-1" || req.Method() != "GET" || req.URL() != url {
			t.Fatalf("bob got %s", req.Raw)
		}
		if err := bob.ApproveIQ(req); err != nil {
			t.Fatal(err)
		}
		res := nextID(t, alice, id)
		if res.Name != "iq" || res.Type != "result" || res.From != bob.JID() {
			t.Errorf("alice got %s, want an iq result from %s", res.Raw, bob.JID())
		}
	})

	t.Run("iq confirm denied", func(t *testing.T) {
		id, err := alice.SendConfirmIQ(bob.JID(), "CODE-2", "POST", url)
		if err != nil {
			t.Fatal(err)
		}
		if err := bob.DenyIQ(next(t, bob)); err != nil {
			t.Fatal(err)
		}
		res := nextID(t, alice, id)
		if res.Type != "error" || res.ErrorCondition() != "not-authorized" || res.ConfirmID() != "CODE-2" {
			t.Errorf("alice got %s, want a not-authorized error echoing the confirm", res.Raw)
		}
		t.Logf("denial as relayed: %s", res.Raw)
	})

	t.Run("iq error condition", func(t *testing.T) {
		id, err := alice.SendConfirmIQ(bob.JID(), "CODE-3", "GET", url)
		if err != nil {
			t.Fatal(err)
		}
		if err := bob.ErrorIQ(next(t, bob), "feature-not-implemented"); err != nil {
			t.Fatal(err)
		}
		res := nextID(t, alice, id)
		if res.Type != "error" || res.ErrorCondition() != "feature-not-implemented" || res.ErrorType() != "cancel" {
			t.Errorf("alice got %s", res.Raw)
		}
		if err := bob.ErrorIQ(res, "no-such-condition"); err == nil {
			t.Error("ErrorIQ accepted an unknown condition")
		}
	})

	t.Run("message confirm approved", func(t *testing.T) {
		if err := alice.SendConfirmMessage(bob.Bare(), "CODE-4", "GET", url, "normal"); err != nil {
			t.Fatal(err)
		}
		req := next(t, bob)
		if req.Name != "message" || req.ConfirmID() != "CODE-4" || req.URL() != url {
			t.Fatalf("bob got %s", req.Raw)
		}
		if err := bob.ApproveMessage(req); err != nil {
			t.Fatal(err)
		}
		res := next(t, alice)
		if res.Name != "message" || res.Type != "normal" || res.ConfirmID() != "CODE-4" || res.IsError() {
			t.Errorf("alice got %s", res.Raw)
		}
	})

	t.Run("message confirm denied", func(t *testing.T) {
		if err := alice.SendConfirmMessage(bob.Bare(), "CODE-5", "GET", url, ""); err != nil {
			t.Fatal(err)
		}
		req := next(t, bob)
		if err := bob.DenyMessage(req); err != nil {
			t.Fatal(err)
		}
		res := nextID(t, alice, req.ID)
		if res.Type != "error" || res.ErrorCondition() != "not-authorized" || res.ConfirmID() != "CODE-5" {
			t.Errorf("alice got %s", res.Raw)
		}
	})

	t.Run("ping server", func(t *testing.T) {
		id, err := alice.SendPing(s.Domain)
		if err != nil {
			t.Fatal(err)
		}
		if res := nextID(t, alice, id); res.Type != "result" {
			t.Errorf("ping answer %s", res.Raw)
		}
	})
}

// TestBounces records what Prosody sends back, to a client and to a
// component, for a message to a bare JID and an iq to a full JID of a
// registered user who is offline and of a user who does not exist.
func TestBounces(t *testing.T) {
	t.Parallel()
	s := start(t)
	alice := login(t, s, "alice", "laptop")
	comp, err := xmpptest.DialComponent(waitCtx(t), s.ComponentAddr, s.ComponentDomain, s.Secret)
	if err != nil {
		t.Fatalf("component: %v\n%s", err, s.LogTail())
	}
	t.Cleanup(func() { _ = comp.Close() })

	// carol is registered and offline; nobody does not exist.
	for _, sender := range []*xmpptest.Client{alice, comp} {
		for _, to := range []string{"carol@localhost", "nobody@localhost"} {
			t.Run(sender.JID()+" message to "+to, func(t *testing.T) {
				id := sender.NewID()
				err := sender.SendRaw(`<message type='normal' id='` + id + `' from='` + sender.JID() + `' to='` + to + `'>` +
					`<thread>T1</thread><body>code X</body>` +
					`<confirm xmlns='http://jabber.org/protocol/http-auth' id='X' method='GET' url='https://example.org/'/></message>`)
				if err != nil {
					t.Fatal(err)
				}
				b := nextID(t, sender, id)
				t.Logf("bounce: %s", b.Raw)
				if b.Name != "message" || b.Type != "error" || b.ErrorCondition() != "service-unavailable" || b.From != to {
					t.Errorf("want a service-unavailable message error from %s", to)
				}
				if b.HasConfirm() || b.Thread() != "" {
					t.Errorf("Prosody's bounce now carries the thread or the confirm: update TESTING.md")
				}
			})
			full := to + "/res"
			t.Run(sender.JID()+" iq to "+full, func(t *testing.T) {
				id, err := sender.SendConfirmIQ(full, "Y", "GET", "https://example.org/")
				if err != nil {
					t.Fatal(err)
				}
				b := nextID(t, sender, id)
				t.Logf("bounce: %s", b.Raw)
				if b.Name != "iq" || b.Type != "error" || b.ErrorCondition() != "service-unavailable" || b.From != full {
					t.Errorf("want a service-unavailable iq error from %s", full)
				}
			})
		}
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	s := start(t)
	alice := login(t, s, "alice", "laptop")
	comp, err := xmpptest.DialComponent(waitCtx(t), s.ComponentAddr, s.ComponentDomain, s.Secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = comp.Close() })

	t0 := time.Now()
	s.Stop()
	t.Logf("stopped in %v with a client and a component connected", time.Since(t0).Round(time.Millisecond))
	for _, c := range []*xmpptest.Client{alice, comp} {
		select {
		case <-c.Done():
			t.Logf("%s after Stop: %v", c.JID(), c.Err())
			if err := c.Close(); err != nil {
				t.Errorf("Close after the server ended the stream: %v", err)
			}
		case <-waitCtx(t).Done():
			t.Fatalf("%s: stream still up after Stop", c.JID())
		}
	}
	if s.PID() != 0 {
		t.Error("PID() != 0 after Stop")
	}
	c2s, compAddr := s.C2SAddr, s.ComponentAddr

	s.Start()
	if s.C2SAddr != c2s || s.ComponentAddr != compAddr {
		t.Errorf("restart moved ports: %s %s -> %s %s", c2s, compAddr, s.C2SAddr, s.ComponentAddr)
	}
	alice = login(t, s, "alice", "laptop")
	bob := login(t, s, "bob", "phone")
	if err := alice.SendMessage(bob.JID(), "after restart"); err != nil {
		t.Fatal(err)
	}
	if st := next(t, bob); st.Body() != "after restart" {
		t.Errorf("bob got %s", st.Raw)
	}

	s.Register("dave", "dave-pw")
	ctx := waitCtx(t)
	dave, err := xmpptest.Dial(ctx, s.C2SAddr, "dave@localhost", "dave-pw", "")
	if err != nil {
		t.Fatalf("user registered while running cannot log in: %v", err)
	}
	t.Logf("server-chosen resource: %s", dave.JID())
	_ = dave.Close()
	if _, err := xmpptest.Dial(ctx, s.C2SAddr, "dave@localhost", "wrong", ""); err == nil || !strings.Contains(err.Error(), "not-authorized") {
		t.Errorf("wrong password: err = %v, want not-authorized", err)
	}

	s.Kill()
	select {
	case <-bob.Done():
		t.Logf("bob after Kill: %v", bob.Err())
	case <-ctx.Done():
		t.Fatal("stream still up after Kill")
	}
	s.Start()
	bob = login(t, s, "bob", "phone")
	comp, err = xmpptest.DialComponent(ctx, s.ComponentAddr, s.ComponentDomain, s.Secret)
	if err != nil {
		t.Fatalf("component after kill and start: %v", err)
	}
	t.Cleanup(func() { _ = comp.Close() })
	if err := comp.SendMessage(bob.JID(), "from the component"); err != nil {
		t.Fatal(err)
	}
	if st := next(t, bob); st.From != s.ComponentDomain || st.Body() != "from the component" {
		t.Errorf("bob got %s", st.Raw)
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	s := start(t)
	alice := login(t, s, "alice", "laptop")

	s.Pause()
	id, err := alice.SendPing(s.Domain)
	if err != nil {
		t.Fatal(err)
	}
	// Asserting silence needs some wait; 200 ms is plenty on loopback.
	quiet, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if st, err := alice.NextMatch(quiet, func(s xmpptest.Stanza) bool { return s.ID == id }); err == nil {
		t.Fatalf("paused server answered: %s", st.Raw)
	}
	if _, err := xmpptest.Dial(quiet, s.C2SAddr, "bob@localhost", users["bob"], ""); err == nil {
		t.Fatal("logged in to a paused server")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Logf("login to a paused server: %v", err)
	}

	s.Resume()
	if res := nextID(t, alice, id); res.Type != "result" {
		t.Errorf("ping answer after resume: %s", res.Raw)
	}

	// Stop works on a paused server too.
	s.Pause()
	s.Stop()
}

func TestStartDemo(t *testing.T) {
	t.Parallel()
	s, err := prosodytest.StartDemo(t.TempDir(), prosodytest.Options{
		Domain: "example.test", ComponentDomain: "gw.example.test", Secret: "s3cret",
		Users: map[string]string{"eve": "eve-pw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	}()
	ctx := waitCtx(t)
	eve, err := xmpptest.Dial(ctx, s.C2SAddr, "eve@example.test", "eve-pw", "x")
	if err != nil {
		t.Fatal(err)
	}
	defer eve.Close()
	if _, err := xmpptest.DialComponent(ctx, s.ComponentAddr, "gw.example.test", "wrong"); err == nil {
		t.Error("component handshake with a wrong secret succeeded")
	} else {
		t.Logf("wrong secret: %v", err)
	}
	if err := s.Start(); err == nil {
		t.Error("Start on a running server succeeded")
	}
}

// BenchmarkConfirmRoundTrip measures confirm round trips through Prosody
// (iq from alice to bob's full JID, bob approves, alice gets the result)
// with the xmpptest client on both ends, at 1 and at 64 in flight. Prosody
// runs with gc = { mode = "generational" }. Figures swing 20 to 30% between
// runs on shared machines.
func BenchmarkConfirmRoundTrip(b *testing.B) {
	s := prosodytest.Start(b, prosodytest.Options{Users: users, GenerationalGC: true})
	ctx := context.Background() // Dial's own 10 s limit applies
	bob, err := xmpptest.DialConfig(ctx, xmpptest.Config{Addr: s.C2SAddr, JID: "bob@localhost", Password: users["bob"], Resource: "phone",
		Handler: func(c *xmpptest.Client, st xmpptest.Stanza) {
			if st.Name == "iq" && st.Type == "get" && st.HasConfirm() {
				_ = c.ApproveIQ(st)
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer bob.Close()
	for _, inflight := range []int{1, 64} {
		b.Run("inflight="+strconv.Itoa(inflight), func(b *testing.B) {
			slots := make(chan struct{}, inflight)
			alice, err := xmpptest.DialConfig(ctx, xmpptest.Config{Addr: s.C2SAddr, JID: "alice@localhost", Password: users["alice"],
				Handler: func(c *xmpptest.Client, st xmpptest.Stanza) {
					if st.Name == "iq" && st.Type == "result" {
						<-slots
					}
				}})
			if err != nil {
				b.Fatal(err)
			}
			defer alice.Close()
			b.ReportAllocs()
			for b.Loop() {
				slots <- struct{}{}
				if _, err := alice.SendConfirmIQ(bob.JID(), "CODE", "GET", "https://example.org/"); err != nil {
					b.Fatal(err)
				}
			}
			for range inflight { // drain
				slots <- struct{}{}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
		})
	}
}

// With TLS, the client port offers STARTTLS with the generated
// certificate, and plain logins (xmpptest.Dial) still work.
func TestTLS(t *testing.T) {
	t.Parallel()
	s := prosodytest.Start(t, prosodytest.Options{Users: users, TLS: true})
	pemBytes, err := os.ReadFile(s.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatalf("%s holds no PEM", s.CertFile)
	}
	conn, err := net.DialTimeout("tcp", s.C2SAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>", s.Domain)
	br := bufio.NewReader(conn)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "</stream:features>") {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("reading features: %v: %s\n%s", err, seen.String(), s.LogTail())
		}
		seen.WriteByte(b)
	}
	if !strings.Contains(seen.String(), "urn:ietf:params:xml:ns:xmpp-tls") {
		t.Fatalf("no STARTTLS offered: %s\n%s", seen.String(), s.LogTail())
	}
	fmt.Fprint(conn, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	seen.Reset()
	for !strings.Contains(seen.String(), "proceed") || !strings.HasSuffix(seen.String(), ">") {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("reading the answer to STARTTLS: %v: %s", err, seen.String())
		}
		seen.WriteByte(b)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: s.Domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS: %v\n%s", err, s.LogTail())
	}
	if got := tc.ConnectionState().PeerCertificates[0].Raw; !bytes.Equal(got, block.Bytes) {
		t.Fatal("the server does not use the generated certificate")
	}
	login(t, s, "alice", "plain")
}
