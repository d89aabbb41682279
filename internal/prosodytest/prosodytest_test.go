package prosodytest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/prosodytest"
	"github.com/xmpp-http-auth/http-auth/internal/servertest"
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
	return servertest.Login(t, s, user, users[user], resource)
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
		servertest.CheckChat(t, alice, bob.Bare(), bob, "hello & <welcome> 'bob' \"é\"\n")
	})

	t.Run("iq confirm approved", func(t *testing.T) {
		id, err := alice.SendConfirmIQ(bob.JID(), "CODE-1", "GET", url)
		if err != nil {
			t.Fatal(err)
		}
		req := servertest.Next(t, bob)
		if req.Name != "iq" || req.Type != "get" || req.ID != id || !req.HasConfirm() ||
			req.ConfirmID() != "CODE-1" || req.Method() != "GET" || req.URL() != url {
			t.Fatalf("bob got %s", req.Raw)
		}
		if err := bob.ApproveIQ(req); err != nil {
			t.Fatal(err)
		}
		res := servertest.NextID(t, alice, id)
		if res.Name != "iq" || res.Type != "result" || res.From != bob.JID() {
			t.Errorf("alice got %s, want an iq result from %s", res.Raw, bob.JID())
		}
	})

	t.Run("iq confirm denied", func(t *testing.T) {
		servertest.CheckIQDenied(t, alice, bob, "CODE-2", "POST", url)
	})

	t.Run("iq error condition", func(t *testing.T) {
		id, err := alice.SendConfirmIQ(bob.JID(), "CODE-3", "GET", url)
		if err != nil {
			t.Fatal(err)
		}
		if err := bob.ErrorIQ(servertest.Next(t, bob), "feature-not-implemented"); err != nil {
			t.Fatal(err)
		}
		res := servertest.NextID(t, alice, id)
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
		req := servertest.Next(t, bob)
		if req.Name != "message" || req.ConfirmID() != "CODE-4" || req.URL() != url {
			t.Fatalf("bob got %s", req.Raw)
		}
		if err := bob.ApproveMessage(req); err != nil {
			t.Fatal(err)
		}
		res := servertest.Next(t, alice)
		if res.Name != "message" || res.Type != "normal" || res.ConfirmID() != "CODE-4" || res.IsError() {
			t.Errorf("alice got %s", res.Raw)
		}
	})

	t.Run("message confirm denied", func(t *testing.T) {
		if err := alice.SendConfirmMessage(bob.Bare(), "CODE-5", "GET", url, ""); err != nil {
			t.Fatal(err)
		}
		req := servertest.Next(t, bob)
		if err := bob.DenyMessage(req); err != nil {
			t.Fatal(err)
		}
		res := servertest.NextID(t, alice, req.ID)
		if res.Type != "error" || res.ErrorCondition() != "not-authorized" || res.ConfirmID() != "CODE-5" {
			t.Errorf("alice got %s", res.Raw)
		}
	})

	t.Run("ping server", func(t *testing.T) { servertest.CheckPing(t, alice, s.Domain) })
}

// TestBounces records what Prosody sends back, to a client and to a
// component, for a message to a bare JID and an iq to a full JID of a
// registered user who is offline and of a user who does not exist.
func TestBounces(t *testing.T) {
	t.Parallel()
	s := start(t)
	alice := login(t, s, "alice", "laptop")
	comp := servertest.DialComponent(t, s)

	// carol is registered and offline; nobody does not exist.
	for _, sender := range []*xmpptest.Client{alice, comp} {
		for _, to := range []string{"carol@localhost", "nobody@localhost"} {
			t.Run(sender.JID()+" message to "+to, func(t *testing.T) {
				if b := servertest.BounceMessage(t, sender, to); b.HasConfirm() || b.Thread() != "" {
					t.Errorf("Prosody's bounce now carries the thread or the confirm: update TESTING.md")
				}
			})
			full := to + "/res"
			t.Run(sender.JID()+" iq to "+full, func(t *testing.T) { servertest.BounceIQ(t, sender, full) })
		}
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	s := start(t)
	alice := login(t, s, "alice", "laptop")
	servertest.StopEndsStreams(t, s, alice, servertest.DialComponent(t, s))
	servertest.RestartKeepsPorts(t, s)
	alice = login(t, s, "alice", "laptop")
	bob := login(t, s, "bob", "phone")
	servertest.CheckChat(t, alice, bob.JID(), bob, "after restart")

	servertest.CheckRegister(t, s, "dave", "dave-pw")

	servertest.KillEndsStream(t, s, bob)
	s.Start()
	bob = login(t, s, "bob", "phone")
	servertest.CheckChat(t, servertest.DialComponent(t, s), bob.JID(), bob, "from the component")
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	s := start(t)
	servertest.CheckPauseResume(t, s, login(t, s, "alice", "laptop"), "bob", users["bob"])
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
	ctx := servertest.WaitCtx(t)
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
