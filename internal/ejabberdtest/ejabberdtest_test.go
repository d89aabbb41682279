package ejabberdtest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/ejabberdtest"
	"github.com/xmpp-http-auth/http-auth/internal/servertest"
	"github.com/xmpp-http-auth/http-auth/internal/xmpptest"
)

var users = map[string]string{"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}

func start(t *testing.T) *ejabberdtest.Server {
	t.Helper()
	t0 := time.Now()
	s := ejabberdtest.Start(t, ejabberdtest.Options{Users: users})
	t.Logf("ejabberd up in %v with %d users (c2s %s, component %s, node %s)",
		time.Since(t0).Round(time.Millisecond), len(users), s.C2SAddr, s.ComponentAddr, s.Node)
	return s
}

func login(t *testing.T, s *ejabberdtest.Server, user, resource string) *xmpptest.Client {
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

	t.Run("component iq confirm approved", func(t *testing.T) {
		comp := servertest.DialComponent(t, s)
		id, err := comp.SendConfirmIQ(bob.JID(), "CODE-1", "GET", url)
		if err != nil {
			t.Fatal(err)
		}
		req := servertest.Next(t, bob)
		if req.Name != "iq" || req.Type != "get" || req.ID != id || req.From != s.ComponentDomain || !req.HasConfirm() ||
			req.ConfirmID() != "CODE-1" || req.Method() != "GET" || req.URL() != url {
			t.Fatalf("bob got %s", req.Raw)
		}
		t.Logf("request as delivered to the client: %s", req.Raw)
		if err := bob.ApproveIQ(req); err != nil {
			t.Fatal(err)
		}
		res := servertest.NextID(t, comp, id)
		if res.Name != "iq" || res.Type != "result" || res.From != bob.JID() || res.To != s.ComponentDomain {
			t.Errorf("component got %s, want an iq result from %s", res.Raw, bob.JID())
		}
		t.Logf("approval as delivered to the component: %s", res.Raw)
	})

	t.Run("component iq confirm denied", func(t *testing.T) {
		servertest.CheckIQDenied(t, servertest.DialComponent(t, s), bob, "CODE-2", "POST", url)
	})

	t.Run("component message confirm approved", func(t *testing.T) {
		comp := servertest.DialComponent(t, s)
		if err := comp.SendConfirmMessage(bob.Bare(), "CODE-3", "GET", url, "normal"); err != nil {
			t.Fatal(err)
		}
		req := servertest.Next(t, bob)
		if req.Name != "message" || req.ConfirmID() != "CODE-3" || req.URL() != url || req.From != s.ComponentDomain {
			t.Fatalf("bob got %s", req.Raw)
		}
		if err := bob.ApproveMessage(req); err != nil {
			t.Fatal(err)
		}
		// ejabberd drops type='normal' (the default) on the way:
		// bob's request had no type, so neither has his answer.
		if req.Type != "" {
			t.Errorf("ejabberd now keeps type='normal': %s", req.Raw)
		}
		res := servertest.Next(t, comp)
		if res.Name != "message" || res.ConfirmID() != "CODE-3" || res.IsError() || res.From != bob.JID() {
			t.Errorf("component got %s", res.Raw)
		}
		t.Logf("message approval as delivered to the component: %s", res.Raw)
	})

	t.Run("ping server", func(t *testing.T) { servertest.CheckPing(t, alice, s.Domain) })
}

// TestBounces records what ejabberd sends back, to a component and to a
// client, for a message to a bare JID and an iq to a full JID of a
// registered user who is offline and of a user who does not exist, and for a
// message to an offline full JID.
func TestBounces(t *testing.T) {
	t.Parallel()
	s := start(t)
	alice := login(t, s, "alice", "laptop")
	comp := servertest.DialComponent(t, s)

	// carol is registered and offline; nobody does not exist.
	for _, sender := range []*xmpptest.Client{comp, alice} {
		for _, to := range []string{"carol@localhost", "nobody@localhost"} {
			t.Run(sender.JID()+" message to "+to, func(t *testing.T) {
				b := servertest.BounceMessage(t, sender, to)
				// SPEC 3: ejabberd bounces a copy of our message.
				if !b.HasConfirm() || b.ConfirmID() != "X" || b.Thread() != "T1" || b.Body() != "code X" {
					t.Errorf("ejabberd's bounce no longer carries the thread, body and confirm: update SPEC.md and TESTING.md")
				}
			})
			full := to + "/res"
			t.Run(sender.JID()+" iq to "+full, func(t *testing.T) {
				if b := servertest.BounceIQ(t, sender, full); !b.HasConfirm() || b.ConfirmID() != "Y" {
					t.Errorf("ejabberd's iq bounce no longer carries the confirm")
				}
			})
			t.Run(sender.JID()+" message to "+full, func(t *testing.T) {
				id := sender.NewID()
				err := sender.SendRaw(`<message type='normal' id='` + id + `' from='` + sender.JID() + `' to='` + full + `'>` +
					`<confirm xmlns='http://jabber.org/protocol/http-auth' id='Z' method='GET' url='https://example.org/'/></message>`)
				if err != nil {
					t.Fatal(err)
				}
				// RFC 6121 8.5.3.2.1: a message to an unavailable
				// resource is treated as if sent to the bare JID.
				b := servertest.NextID(t, sender, id)
				t.Logf("bounce: %s", b.Raw)
				if b.Type != "error" || b.ErrorCondition() != "service-unavailable" {
					t.Errorf("want a service-unavailable message error")
				}
			})
		}
	}
}

// TestComponentFrom records what ejabberd does with a component stanza whose
// from is not the component's domain, or is missing.
func TestComponentFrom(t *testing.T) {
	t.Parallel()
	s := start(t)
	bob := login(t, s, "bob", "phone")
	cases := []struct {
		name, from string
		delivered  bool   // with this from
		condition  string // else the stream dies with this error
	}{
		{"subdomain user", "someone@" + s.ComponentDomain + "/x", true, ""},
		{"other domain", "auth.example.org", false, "invalid-from"},
		{"server domain", s.Domain, false, "invalid-from"},
		{"server user", "alice@" + s.Domain, false, "invalid-from"},
		{"missing", "", false, "improper-addressing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			comp := servertest.DialComponent(t, s)
			id := comp.NewID()
			from := ""
			if tc.from != "" {
				from = ` from='` + tc.from + `'`
			}
			if err := comp.SendRaw(`<message type='chat' id='` + id + `'` + from + ` to='` + bob.JID() + `'><body>` + tc.name + `</body></message>`); err != nil {
				t.Fatal(err)
			}
			if tc.delivered {
				got, err := bob.NextMatch(servertest.WaitCtx(t), func(st xmpptest.Stanza) bool { return st.ID == id })
				if err != nil || got.From != tc.from {
					t.Errorf("bob: %v %s, want the message from %s", err, got.Raw, tc.from)
				}
				return
			}
			// The component's stream dies with a stream error.
			select {
			case <-comp.Done():
			case <-servertest.WaitCtx(t).Done():
				t.Fatal("the component stream is still up")
			}
			var se *xmpptest.StreamError
			if !errors.As(comp.Err(), &se) {
				t.Fatalf("component stream ended with %v, want a stream error", comp.Err())
			}
			t.Logf("from=%q: %s", tc.from, se.Raw)
			if se.Condition != tc.condition {
				t.Errorf("condition %q, want %q", se.Condition, tc.condition)
			}
			quiet, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if got, err := bob.NextMatch(quiet, func(st xmpptest.Stanza) bool { return st.ID == id }); err == nil {
				t.Errorf("bob got %s", got.Raw)
			}
		})
	}
}

// TestTwoComponentConnections records what ejabberd does with a second
// connection for the same component domain while the first is up (Prosody
// refuses it): both stay up, and stanzas to the domain are spread over them.
func TestTwoComponentConnections(t *testing.T) {
	t.Parallel()
	s := start(t)
	bob := login(t, s, "bob", "phone")
	first, second := servertest.DialComponent(t, s), servertest.DialComponent(t, s)
	const n = 40
	for i := range n {
		if err := bob.SendMessage(s.ComponentDomain, "m"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	count := func(c *xmpptest.Client) int {
		got := 0
		for {
			quiet, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			_, err := c.NextMatch(quiet, func(st xmpptest.Stanza) bool { return st.Name == "message" })
			cancel()
			if err != nil {
				return got
			}
			got++
		}
	}
	a, b := count(first), count(second)
	t.Logf("%d messages from one client to %s: %d to the first connection, %d to the second", n, s.ComponentDomain, a, b)
	if a+b != n {
		t.Errorf("%d messages arrived, want %d", a+b, n)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bob.SendMessage(s.ComponentDomain, "after"); err != nil {
		t.Fatal(err)
	}
	if st := servertest.Next(t, second); st.Body() != "after" {
		t.Errorf("second connection got %s", st.Raw)
	}
}

// TestStreamHeaders records the stream headers ejabberd sends on both ports.
func TestStreamHeaders(t *testing.T) {
	t.Parallel()
	s := start(t)
	for _, tc := range []struct{ addr, open string }{
		{s.C2SAddr, `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`},
		{s.ComponentAddr, `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='auth.localhost'>`},
		{s.ComponentAddr, `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='unknown.localhost'>`},
	} {
		c, err := net.DialTimeout("tcp", tc.addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := io.WriteString(c, tc.open); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		buf := make([]byte, 4096)
		for !bytes.Contains(got.Bytes(), []byte("</stream:features>")) && !bytes.Contains(got.Bytes(), []byte("</stream:stream>")) {
			n, err := c.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				// A component stream sends nothing after its header.
				break
			}
		}
		_ = c.Close()
		t.Logf("%s\n  -> %s", tc.open, got.Bytes())
		if !bytes.Contains(got.Bytes(), []byte("<stream:stream")) {
			t.Errorf("no stream header in %q", got.Bytes())
		}
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	s := start(t)
	alice := login(t, s, "alice", "laptop")
	servertest.StopEndsStreams(t, s, alice, servertest.DialComponent(t, s))
	if err := ejabberdtest.RegisterWhileStopped(s); err == nil {
		t.Error("Register on a stopped server succeeded")
	}
	servertest.RestartKeepsPorts(t, s)
	alice = login(t, s, "alice", "laptop")
	bob := login(t, s, "bob", "phone")
	servertest.CheckChat(t, alice, bob.JID(), bob, "after restart")

	servertest.CheckRegister(t, s, "dave", "dave-pw")
	s.Register("dave", "new-pw")
	if dave, err := xmpptest.Dial(servertest.WaitCtx(t), s.C2SAddr, "dave@localhost", "new-pw", ""); err != nil {
		t.Errorf("password reset: %v", err)
	} else {
		_ = dave.Close()
	}

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
	t0 := time.Now()
	s, err := ejabberdtest.StartDemo(ejabberdtest.ReachableTempDir(t), ejabberdtest.Options{
		Domain: "example.test", ComponentDomain: "gw.example.test", Secret: `s3cret "with" 'quotes' & <stuff>`,
		Users:           map[string]string{"eve": "eve-pw", "frank": "pass with spaces 'and' \"quotes\" é"},
		ExtraComponents: []string{"bench.example.test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ejabberd up in %v", time.Since(t0).Round(time.Millisecond))
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
	frank, err := xmpptest.Dial(ctx, s.C2SAddr, "frank@example.test", "pass with spaces 'and' \"quotes\" é", "x")
	if err != nil {
		t.Fatal(err)
	}
	defer frank.Close()
	comp, err := xmpptest.DialComponent(ctx, s.ComponentAddr, "gw.example.test", s.Secret)
	if err != nil {
		t.Fatal(err)
	}
	defer comp.Close()
	extra, err := xmpptest.DialComponent(ctx, s.ComponentAddr, "bench.example.test", s.Secret)
	if err != nil {
		t.Fatalf("extra component: %v", err)
	}
	defer extra.Close()
	if _, err := xmpptest.DialComponent(ctx, s.ComponentAddr, "gw.example.test", "wrong"); err == nil {
		t.Error("component handshake with a wrong secret succeeded")
	} else {
		t.Logf("wrong secret: %v", err)
	}
	if _, err := xmpptest.DialComponent(ctx, s.ComponentAddr, "unknown.example.test", s.Secret); err == nil {
		t.Error("component handshake for an unknown domain succeeded")
	} else {
		t.Logf("unknown component domain: %v", err)
	}

	if err := s.Start(); err == nil {
		t.Error("Start on a running server succeeded")
	}
}
