package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/prosodytest"
	"github.com/xmpp-http-auth/http-auth/internal/xmpptest"
)

// syncBuffer is stdout shared by run and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls stdout until it contains want.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("stdout never showed %q; it is:\n%s", want, out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRun(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: map[string]string{"alice": "a-pw", "bob": "b-pw"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	stdin, typing := io.Pipe()
	out := &syncBuffer{}
	var stderr bytes.Buffer
	getenv := func(k string) string {
		if k == "DEMO_ANSWER_PASSWORD" {
			return "b-pw"
		}
		return ""
	}
	result := make(chan error, 1)
	go func() {
		result <- run(ctx, []string{"-addr", srv.C2SAddr, "-jid", "bob@localhost"}, getenv, stdin, out, &stderr)
	}()
	waitFor(t, out, "Logged in as bob@localhost/demo")

	alice, err := xmpptest.Dial(ctx, srv.C2SAddr, "alice@localhost", "a-pw", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	next := func(match func(xmpptest.Stanza) bool) xmpptest.Stanza {
		t.Helper()
		st, err := alice.NextMatch(ctx, match)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	say := func(line string) {
		t.Helper()
		if _, err := io.WriteString(typing, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}

	// A line typed with nothing pending answers nothing.
	say("y")
	waitFor(t, out, `(no request pending: "y" ignored)`)

	// iq request, approved.
	id, err := alice.SendConfirmIQ("bob@localhost/demo", "CODE-1", "GET", "https://example.org/a")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "Request CODE-1: GET https://example.org/a from alice@localhost/laptop — approve? [y/N] ")
	say("yes")
	if res := next(func(s xmpptest.Stanza) bool { return s.ID == id }); res.Type != "result" {
		t.Errorf("approval: %s", res.Raw)
	}

	// Two message requests while nobody answers: asked in order.
	for _, code := range []string{"CODE-2", "CODE-3"} {
		if err := alice.SendConfirmMessage("bob@localhost", code, "POST", "https://example.org/"+code, "normal"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, out, "Request CODE-2: POST https://example.org/CODE-2")
	say("") // the default is no
	denial := next(func(s xmpptest.Stanza) bool { return s.Name == "message" })
	if denial.Type != "error" || denial.ErrorCondition() != "not-authorized" || denial.ConfirmID() != "CODE-2" {
		t.Errorf("denial: %s", denial.Raw)
	}
	waitFor(t, out, "Request CODE-3: POST https://example.org/CODE-3")
	say("Y")
	approval := next(func(s xmpptest.Stanza) bool { return s.Name == "message" })
	if approval.IsError() || approval.ConfirmID() != "CODE-3" {
		t.Errorf("approval: %s", approval.Raw)
	}

	// Other queries get service-unavailable, pings a result.
	ping, _ := alice.SendPing("bob@localhost/demo")
	if res := next(func(s xmpptest.Stanza) bool { return s.ID == ping }); res.Type != "result" {
		t.Errorf("ping: %s", res.Raw)
	}
	if err := alice.SendRaw("<iq type='get' id='v1' to='bob@localhost/demo'><query xmlns='jabber:iq:version'/></iq>"); err != nil {
		t.Fatal(err)
	}
	if res := next(func(s xmpptest.Stanza) bool { return s.ID == "v1" }); res.ErrorCondition() != "service-unavailable" {
		t.Errorf("version query: %s", res.Raw)
	}

	// EOF ends the program cleanly.
	_ = typing.Close()
	select {
	case err := <-result:
		if err != nil {
			t.Errorf("run: %v (stderr %s)", err, stderr.String())
		}
	case <-ctx.Done():
		t.Fatal("run did not return at EOF")
	}
	t.Logf("transcript:\n%s", out.String())
}

func TestRunFlags(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"extra"}, func(string) string { return "" }, strings.NewReader(""), io.Discard, &stderr)
	want := `demo-answer: -jid is required (user@domain); -password (or DEMO_ANSWER_PASSWORD) is required; unexpected arguments ["extra"]`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}
