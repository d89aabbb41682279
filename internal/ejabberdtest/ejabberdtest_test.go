package ejabberdtest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/ejabberdtest"
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := xmpptest.Dial(ctx, s.C2SAddr, user+"@"+s.Domain, users[user], resource)
	if err != nil {
		t.Fatalf("login %s: %v\n%s", user, err, s.LogTail())
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func component(t *testing.T, s *ejabberdtest.Server) *xmpptest.Client {
	t.Helper()
	comp, err := xmpptest.DialComponent(waitCtx(t), s.ComponentAddr, s.ComponentDomain, s.Secret)
	if err != nil {
		t.Fatalf("component: %v\n%s", err, s.LogTail())
	}
	t.Cleanup(func() { _ = comp.Close() })
	return comp
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

	t.Run("component iq confirm approved", func(t *testing.T) {
		comp := component(t, s)
		id, err := comp.SendConfirmIQ(bob.JID(), "CODE-1", "GET", url)
		if err != nil {
			t.Fatal(err)
		}
		req := next(t, bob)
		if req.Name != "iq" || req.Type != "get" || req.ID != id || req.From != s.ComponentDomain || !req.HasConfirm() ||
			req.ConfirmID() != "CODE-1" || req.Method() != "GET" || req.URL() != url {
			t.Fatalf("bob got %s", req.Raw)
		}
		t.Logf("request as delivered to the client: %s", req.Raw)
		if err := bob.ApproveIQ(req); err != nil {
			t.Fatal(err)
		}
		res := nextID(t, comp, id)
		if res.Name != "iq" || res.Type != "result" || res.From != bob.JID() || res.To != s.ComponentDomain {
			t.Errorf("component got %s, want an iq result from %s", res.Raw, bob.JID())
		}
		t.Logf("approval as delivered to the component: %s", res.Raw)
	})

	t.Run("component iq confirm denied", func(t *testing.T) {
		comp := component(t, s)
		id, err := comp.SendConfirmIQ(bob.JID(), "CODE-2", "POST", url)
		if err != nil {
			t.Fatal(err)
		}
		if err := bob.DenyIQ(next(t, bob)); err != nil {
			t.Fatal(err)
		}
		res := nextID(t, comp, id)
		if res.Type != "error" || res.ErrorCondition() != "not-authorized" || res.ConfirmID() != "CODE-2" {
			t.Errorf("component got %s, want a not-authorized error echoing the confirm", res.Raw)
		}
		t.Logf("denial as delivered to the component: %s", res.Raw)
	})

	t.Run("component message confirm approved", func(t *testing.T) {
		comp := component(t, s)
		if err := comp.SendConfirmMessage(bob.Bare(), "CODE-3", "GET", url, "normal"); err != nil {
			t.Fatal(err)
		}
		req := next(t, bob)
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
		res := next(t, comp)
		if res.Name != "message" || res.ConfirmID() != "CODE-3" || res.IsError() || res.From != bob.JID() {
			t.Errorf("component got %s", res.Raw)
		}
		t.Logf("message approval as delivered to the component: %s", res.Raw)
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

// TestBounces records what ejabberd sends back, to a component and to a
// client, for a message to a bare JID and an iq to a full JID of a
// registered user who is offline and of a user who does not exist, and for a
// message to an offline full JID.
func TestBounces(t *testing.T) {
	t.Parallel()
	s := start(t)
	alice := login(t, s, "alice", "laptop")
	comp := component(t, s)

	// carol is registered and offline; nobody does not exist.
	for _, sender := range []*xmpptest.Client{comp, alice} {
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
				// SPEC 3: ejabberd bounces a copy of our message.
				if !b.HasConfirm() || b.ConfirmID() != "X" || b.Thread() != "T1" || b.Body() != "code X" {
					t.Errorf("ejabberd's bounce no longer carries the thread, body and confirm: update SPEC.md and TESTING.md")
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
				if !b.HasConfirm() || b.ConfirmID() != "Y" {
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
				b := nextID(t, sender, id)
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
			comp := component(t, s)
			id := comp.NewID()
			from := ""
			if tc.from != "" {
				from = ` from='` + tc.from + `'`
			}
			if err := comp.SendRaw(`<message type='chat' id='` + id + `'` + from + ` to='` + bob.JID() + `'><body>` + tc.name + `</body></message>`); err != nil {
				t.Fatal(err)
			}
			if tc.delivered {
				got, err := bob.NextMatch(waitCtx(t), func(st xmpptest.Stanza) bool { return st.ID == id })
				if err != nil || got.From != tc.from {
					t.Errorf("bob: %v %s, want the message from %s", err, got.Raw, tc.from)
				}
				return
			}
			// The component's stream dies with a stream error.
			select {
			case <-comp.Done():
			case <-waitCtx(t).Done():
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
	first, second := component(t, s), component(t, s)
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
	if st := next(t, second); st.Body() != "after" {
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
	comp := component(t, s)

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
	if err := ejabberdtest.RegisterWhileStopped(s); err == nil {
		t.Error("Register on a stopped server succeeded")
	}
	c2s, compAddr := s.C2SAddr, s.ComponentAddr

	t0 = time.Now()
	s.Start()
	t.Logf("restarted in %v", time.Since(t0).Round(time.Millisecond))
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

	t0 = time.Now()
	s.Register("dave", "dave-pw")
	t.Logf("registered a user in %v", time.Since(t0).Round(time.Millisecond))
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
	s.Register("dave", "new-pw")
	if dave, err = xmpptest.Dial(ctx, s.C2SAddr, "dave@localhost", "new-pw", ""); err != nil {
		t.Errorf("password reset: %v", err)
	} else {
		_ = dave.Close()
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
	comp = component(t, s)
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
	t0 := time.Now()
	s.Stop()
	t.Logf("stopped a paused server in %v", time.Since(t0).Round(time.Millisecond))
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
	ctx := waitCtx(t)
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
