package servertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/xmpptest"
)

// waitTimeout bounds every wait of the helpers below: plenty on loopback.
const waitTimeout = 5 * time.Second

// Server is what the helpers below need of a throwaway XMPP server:
// *prosodytest.Server and *ejabberdtest.Server are both one.
type Server interface {
	Client() (addr, domain string)
	Component() (addr, domain, secret string)
	LogTail() string
}

// Lifecycle is a Server whose lifecycle a test drives: *prosodytest.Server
// and *ejabberdtest.Server are both one. The helpers below fail the test on
// any error of these methods.
type Lifecycle interface {
	Server
	Start() error
	Stop() error
	Kill() error
	Pause() error
	Resume() error
	Register(user, pass string) error
	PID() int
}

// WaitCtx returns a context that ends after 5 s, or with the test.
func WaitCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// Next waits up to 5 s for the next stanza to c that is not a presence, and
// fails the test if none comes.
func Next(t testing.TB, c *xmpptest.Client) xmpptest.Stanza {
	t.Helper()
	st, err := c.NextMatch(WaitCtx(t), func(s xmpptest.Stanza) bool { return s.Name != "presence" })
	if err != nil {
		t.Fatalf("%s: %v", c.JID(), err)
	}
	return st
}

// NextID waits up to 5 s for the stanza to c with the given id, and fails
// the test if none comes.
func NextID(t testing.TB, c *xmpptest.Client, id string) xmpptest.Stanza {
	t.Helper()
	st, err := c.NextMatch(WaitCtx(t), func(s xmpptest.Stanza) bool { return s.ID == id })
	if err != nil {
		t.Fatalf("%s waiting for id %q: %v", c.JID(), id, err)
	}
	return st
}

// Login logs in to s as user (a local part on s's domain) with pass and
// resource, failing the test (with s's log) if it cannot. The client is
// closed at the end of the test.
func Login(t testing.TB, s Server, user, pass, resource string) *xmpptest.Client {
	t.Helper()
	addr, domain := s.Client()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := xmpptest.Dial(ctx, addr, user+"@"+domain, pass, resource)
	if err != nil {
		t.Fatalf("login %s: %v\n%s", user, err, s.LogTail())
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// DialComponent connects to s's component port as its component, failing
// the test (with s's log) if it cannot. The client is closed at the end of
// the test.
func DialComponent(t testing.TB, s Server) *xmpptest.Client {
	t.Helper()
	addr, domain, secret := s.Component()
	comp, err := xmpptest.DialComponent(WaitCtx(t), addr, domain, secret)
	if err != nil {
		t.Fatalf("component: %v\n%s", err, s.LogTail())
	}
	t.Cleanup(func() { _ = comp.Close() })
	return comp
}

// CheckChat sends a chat message with body from from to the address to, and
// checks that rcpt (to's session) gets it, from from.
func CheckChat(t testing.TB, from *xmpptest.Client, to string, rcpt *xmpptest.Client, body string) {
	t.Helper()
	if err := from.SendMessage(to, body); err != nil {
		t.Fatal(err)
	}
	st := Next(t, rcpt)
	if st.Name != "message" || st.Type != "chat" || st.Body() != body || st.From != from.JID() {
		t.Errorf("%s got %s, want a chat message from %s with body %q", rcpt.JID(), st.Raw, from.JID(), body)
	}
}

// CheckPing pings the server domain from c and checks the answer.
func CheckPing(t testing.TB, c *xmpptest.Client, domain string) {
	t.Helper()
	id, err := c.SendPing(domain)
	if err != nil {
		t.Fatal(err)
	}
	if res := NextID(t, c, id); res.Type != "result" {
		t.Errorf("ping answer %s", res.Raw)
	}
}

// CheckIQDenied sends from sender a confirm iq (code, method, url) to
// user's full JID, has user deny it, and checks that sender gets a
// not-authorized error that echoes the confirm.
func CheckIQDenied(t testing.TB, sender, user *xmpptest.Client, code, method, url string) {
	t.Helper()
	id, err := sender.SendConfirmIQ(user.JID(), code, method, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := user.DenyIQ(Next(t, user)); err != nil {
		t.Fatal(err)
	}
	res := NextID(t, sender, id)
	if res.Type != "error" || res.ErrorCondition() != "not-authorized" || res.ConfirmID() != code {
		t.Errorf("%s got %s, want a not-authorized error echoing the confirm", sender.JID(), res.Raw)
	}
	t.Logf("denial as delivered to %s: %s", sender.JID(), res.Raw)
}

// BounceMessage sends from sender a normal message to to (with a thread, a
// body and a confirm of id X), which the server cannot deliver, and returns
// the bounce after checking that it is a service-unavailable message error
// from to. What else the bounce carries differs between servers.
func BounceMessage(t testing.TB, sender *xmpptest.Client, to string) xmpptest.Stanza {
	t.Helper()
	id := sender.NewID()
	err := sender.SendRaw(`<message type='normal' id='` + id + `' from='` + sender.JID() + `' to='` + to + `'>` +
		`<thread>T1</thread><body>code X</body>` +
		`<confirm xmlns='http://jabber.org/protocol/http-auth' id='X' method='GET' url='https://example.org/'/></message>`)
	if err != nil {
		t.Fatal(err)
	}
	return bounce(t, sender, id, "message", to)
}

// BounceIQ sends from sender a confirm iq of id Y to the full JID full, which
// the server cannot deliver, and returns the bounce after checking that it
// is a service-unavailable iq error from full.
func BounceIQ(t testing.TB, sender *xmpptest.Client, full string) xmpptest.Stanza {
	t.Helper()
	id, err := sender.SendConfirmIQ(full, "Y", "GET", "https://example.org/")
	if err != nil {
		t.Fatal(err)
	}
	return bounce(t, sender, id, "iq", full)
}

// bounce waits for the answer to sender's stanza id, and checks that it is a
// service-unavailable error of the kind name (message or iq) from from.
func bounce(t testing.TB, sender *xmpptest.Client, id, name, from string) xmpptest.Stanza {
	t.Helper()
	b := NextID(t, sender, id)
	t.Logf("bounce: %s", b.Raw)
	if b.Name != name || b.Type != "error" || b.ErrorCondition() != "service-unavailable" || b.From != from {
		t.Errorf("want a service-unavailable %s error from %s", name, from)
	}
	return b
}

// StopEndsStreams stops s and checks that the stream of every one of
// clients ends, that Close then succeeds, and that PID is 0.
func StopEndsStreams(t testing.TB, s Lifecycle, clients ...*xmpptest.Client) {
	t.Helper()
	t0 := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %v with %d clients connected", time.Since(t0).Round(time.Millisecond), len(clients))
	for _, c := range clients {
		select {
		case <-c.Done():
			t.Logf("%s after Stop: %v", c.JID(), c.Err())
			if err := c.Close(); err != nil {
				t.Errorf("Close after the server ended the stream: %v", err)
			}
		case <-WaitCtx(t).Done():
			t.Fatalf("%s: stream still up after Stop", c.JID())
		}
	}
	if s.PID() != 0 {
		t.Error("PID() != 0 after Stop")
	}
}

// RestartKeepsPorts starts the stopped s again and checks that its client
// and component ports are those it had.
func RestartKeepsPorts(t testing.TB, s Lifecycle) {
	t.Helper()
	c2s, _ := s.Client()
	comp, _, _ := s.Component()
	t0 := time.Now()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted in %v", time.Since(t0).Round(time.Millisecond))
	newC2S, _ := s.Client()
	newComp, _, _ := s.Component()
	if newC2S != c2s || newComp != comp {
		t.Errorf("restart moved ports: %s %s -> %s %s", c2s, comp, newC2S, newComp)
	}
}

// CheckRegister registers user with pass on the running s, and checks that
// the user can then log in with pass (letting the server choose the
// resource), and not with another password.
func CheckRegister(t testing.TB, s Lifecycle, user, pass string) {
	t.Helper()
	t0 := time.Now()
	if err := s.Register(user, pass); err != nil {
		t.Fatal(err)
	}
	t.Logf("registered a user in %v", time.Since(t0).Round(time.Millisecond))
	addr, domain := s.Client()
	jid := user + "@" + domain
	ctx := WaitCtx(t)
	c, err := xmpptest.Dial(ctx, addr, jid, pass, "")
	if err != nil {
		t.Fatalf("user registered while running cannot log in: %v", err)
	}
	t.Logf("server-chosen resource: %s", c.JID())
	_ = c.Close()
	if _, err := xmpptest.Dial(ctx, addr, jid, "wrong "+pass, ""); err == nil || !strings.Contains(err.Error(), "not-authorized") {
		t.Errorf("wrong password: err = %v, want not-authorized", err)
	}
}

// KillEndsStream kills s and checks that c's stream ends.
func KillEndsStream(t testing.TB, s Lifecycle, c *xmpptest.Client) {
	t.Helper()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
		t.Logf("%s after Kill: %v", c.JID(), c.Err())
	case <-WaitCtx(t).Done():
		t.Fatal("stream still up after Kill")
	}
}

// CheckPauseResume pauses s and checks that c's ping goes unanswered and
// that user cannot log in (with pass), then resumes s and checks that the
// ping is answered; last, it stops s while paused.
func CheckPauseResume(t testing.TB, s Lifecycle, c *xmpptest.Client, user, pass string) {
	t.Helper()
	addr, domain := s.Client()
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	id, err := c.SendPing(domain)
	if err != nil {
		t.Fatal(err)
	}
	// Asserting silence needs some wait; 200 ms is plenty on loopback.
	quiet, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if st, err := c.NextMatch(quiet, func(s xmpptest.Stanza) bool { return s.ID == id }); err == nil {
		t.Fatalf("paused server answered: %s", st.Raw)
	}
	if _, err := xmpptest.Dial(quiet, addr, user+"@"+domain, pass, ""); err == nil {
		t.Fatal("logged in to a paused server")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Logf("login to a paused server: %v", err)
	}

	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if res := NextID(t, c, id); res.Type != "result" {
		t.Errorf("ping answer after resume: %s", res.Raw)
	}

	// Stop works on a paused server too.
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped a paused server in %v", time.Since(t0).Round(time.Millisecond))
}
