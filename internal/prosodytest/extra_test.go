package prosodytest_test

import (
	"testing"

	"github.com/xmpp-http-auth/http-auth/internal/prosodytest"
	"github.com/xmpp-http-auth/http-auth/internal/servertest"
	"github.com/xmpp-http-auth/http-auth/internal/xmpptest"
)

// TestExtraComponents: a second component domain takes its own connection
// while the main one is connected (cmd/bench keeps a bare component there
// next to the gateway), and its confirm iq, sent with an id of our choosing,
// is answered to it.
func TestExtraComponents(t *testing.T) {
	t.Parallel()
	s := prosodytest.Start(t, prosodytest.Options{Users: users, ExtraComponents: []string{"bench.localhost"}})
	ctx := servertest.WaitCtx(t)
	gw, err := xmpptest.DialComponent(ctx, s.ComponentAddr, s.ComponentDomain, s.Secret)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	extra, err := xmpptest.DialComponent(ctx, s.ComponentAddr, "bench.localhost", s.Secret)
	if err != nil {
		t.Fatalf("the extra component: %v\n%s", err, s.LogTail())
	}
	defer extra.Close()

	bob := login(t, s, "bob", "phone")
	const id = "chosen-id-1"
	if err := extra.SendConfirmIQWithID(bob.JID(), id, "CODE-X", "GET", "https://example.org/"); err != nil {
		t.Fatal(err)
	}
	req := servertest.Next(t, bob)
	if req.Name != "iq" || req.ID != id || req.From != "bench.localhost" || req.ConfirmID() != "CODE-X" {
		t.Fatalf("bob got %s", req.Raw)
	}
	if err := bob.ApproveIQ(req); err != nil {
		t.Fatal(err)
	}
	res := servertest.NextID(t, extra, id)
	if res.Type != "result" || res.From != bob.JID() {
		t.Errorf("the extra component got %s, want an iq result from %s", res.Raw, bob.JID())
	}
}
