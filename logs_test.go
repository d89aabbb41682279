package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/prosodytest"
)

// The log test (issue 3, item 7): with xmpp_debug=true every stanza sent
// and received is logged, but never the component secret, the handshake
// digest (hex SHA-1 of the stream id and the secret) or an API key, in
// either log format, across a reconnection (a second handshake).

const (
	logSecret   = "log-test-secret-7c1d0b"
	logAPIKey   = "log-test-api-key-5e2b9a44"
	logWrongKey = "log-test-wrong-key-31f0c8"
)

// hex40 is a SHA-1 digest in hex, as the handshake sends it.
var hex40 = regexp.MustCompile(`[0-9a-fA-F]{40}`)

// stanzaLog is what the gateway logged of its XMPP traffic: the sent
// stanzas, and the received bytes in order (read chunks, joined: a stanza
// may span two reads).
type stanzaLog struct {
	sent []string
	recv string
}

var (
	textXML  = regexp.MustCompile(`(?:^| )xml=`)
	stanzaID = regexp.MustCompile(` id=['"]([^'"]+)['"]`)
)

// parseStanzaLog reads the "xmpp send" and "xmpp recv" lines of a text or
// JSON log, unescaping the xml attribute.
func parseStanzaLog(t *testing.T, logs, format string) stanzaLog {
	t.Helper()
	var out stanzaLog
	var recv strings.Builder
	for _, line := range strings.Split(logs, "\n") {
		var msg, x string
		switch format {
		case "json":
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line is not JSON: %v: %s", err, line)
			}
			msg, _ = m["msg"].(string)
			x, _ = m["xml"].(string)
		default:
			switch {
			case strings.Contains(line, `msg="xmpp send"`):
				msg = "xmpp send"
			case strings.Contains(line, `msg="xmpp recv"`):
				msg = "xmpp recv"
			default:
				continue
			}
			loc := textXML.FindStringIndex(line)
			if loc == nil {
				t.Fatalf("stanza line without xml: %s", line)
			}
			rest := line[loc[1]:]
			if strings.HasPrefix(rest, `"`) {
				q, err := strconv.QuotedPrefix(rest)
				if err != nil {
					t.Fatalf("bad quoting: %v: %s", err, line)
				}
				x, _ = strconv.Unquote(q)
			} else {
				x, _, _ = strings.Cut(rest, " ")
			}
		}
		switch msg {
		case "xmpp send":
			out.sent = append(out.sent, x)
		case "xmpp recv":
			recv.WriteString(x)
		}
	}
	out.recv = recv.String()
	return out
}

func TestLogStanzasButNoSecrets(t *testing.T) {
	p := prosodytest.Start(t, prosodytest.Options{Users: users, Secret: logSecret})
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			env := map[string]string{"HTTPAUTH_HTTP_API_KEYS": logAPIKey, "HTTPAUTH_LOG_FORMAT": format}
			g := startGatewayEnv(t, p, env, "xmpp_debug=true")
			hc := newCaller(g, http.Header{"Authorization": {"Bearer " + logAPIKey}})
			defer hc.close()
			hc.waitConnected(t, g)

			// Whether API keys are enforced yet (issue 3, item 1): either
			// way, no key may reach the log.
			anon := newCaller(g, nil)
			defer anon.close()
			r := anon.auth(t, ask("nobody@localhost", "timeout", "5"))
			enforced := r.code == 403
			t.Logf("API keys enforced: %v (a caller without a key got %d %q)", enforced, r.code, r.body)
			wrong := newCaller(g, http.Header{"Authorization": {"Bearer " + logWrongKey}})
			defer wrong.close()
			if r := wrong.auth(t, ask("nobody@localhost", "timeout", "5")); enforced && r.code != 403 {
				t.Errorf("a wrong key got %d %q, want 403", r.code, r.body)
			}

			person(t, p, "alice", "log-"+format, approve)
			iqTxn, msgTxn := "LOG-IQ-"+format, "LOG-MSG-"+format
			want(t, hc.auth(t, ask("alice@localhost/log-"+format, "transaction_id", iqTxn)), 200, "approved")

			// A second handshake: Prosody restarts under the gateway.
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			hc.waitConnected(t, g)
			person(t, p, "alice", "log2-"+format, approve)
			want(t, hc.auth(t, ask("alice@localhost", "transaction_id", msgTxn)), 200, "approved")
			// A liveness ping (one a second) and its answer.
			g.waitLog(t, 10*time.Second, 1, "xmpp send", "urn:xmpp:ping")
			var pingID string
			for _, s := range parseStanzaLog(t, g.logs.String(), format).sent {
				if m := stanzaID.FindStringSubmatch(s); m != nil && strings.Contains(s, "urn:xmpp:ping") {
					pingID = m[1]
					break
				}
			}
			if pingID == "" {
				t.Fatal("no id in the logged ping")
			}
			g.waitLog(t, 10*time.Second, 1, "xmpp recv", pingID)
			g.stop(t)

			logs := g.logs.String()
			if n := len(g.logLines("connected to the XMPP server")); n < 2 {
				t.Fatalf("%d connections logged, want 2 (two handshakes)", n)
			}
			sl := parseStanzaLog(t, logs, format)

			// Every stanza: the confirm iq and message sent, the answers
			// received (an iq result with our id, a message echoing the
			// <confirm/>), pings both ways.
			var iqID string
			var sentIQ, sentMsg, sentPing bool
			for _, s := range sl.sent {
				switch {
				case strings.HasPrefix(s, "<iq") && strings.Contains(s, "http://jabber.org/protocol/http-auth") && strings.Contains(s, iqTxn):
					sentIQ = true
					if m := stanzaID.FindStringSubmatch(s); m != nil {
						iqID = m[1]
					}
				case strings.HasPrefix(s, "<message") && strings.Contains(s, "http://jabber.org/protocol/http-auth") && strings.Contains(s, msgTxn):
					sentMsg = true
				case strings.Contains(s, "urn:xmpp:ping"):
					sentPing = true
				}
			}
			if !sentIQ || !sentMsg || !sentPing || iqID == "" {
				t.Errorf("sent stanzas missing from the log: confirm iq %v (id %q), confirm message %v, ping %v", sentIQ, iqID, sentMsg, sentPing)
			}
			if iqID != "" && !regexp.MustCompile(`<iq[^>]*id=['"]`+regexp.QuoteMeta(iqID)+`['"][^>]*type=['"]result|<iq[^>]*type=['"]result['"][^>]*id=['"]`+regexp.QuoteMeta(iqID)).MatchString(sl.recv) {
				t.Errorf("the iq result with id %s is not in the received log", iqID)
			}
			if !regexp.MustCompile(`<message[^>]*>.*<confirm[^>]*http://jabber.org/protocol/http-auth[^>]*` + msgTxn + `|<message[^>]*>.*<confirm[^>]*` + msgTxn + `[^>]*http://jabber.org/protocol/http-auth`).MatchString(sl.recv) {
				t.Errorf("the message answer echoing <confirm id=%s/> is not in the received log", msgTxn)
			}
			if len(sl.sent) == 0 || sl.recv == "" {
				t.Fatalf("no stanza logged with xmpp_debug=true")
			}
			t.Logf("%d stanzas sent and %d bytes received were logged", len(sl.sent), len(sl.recv))

			// Never a secret.
			for _, leak := range []struct{ what, s string }{
				{"the component secret", logSecret},
				{"the API key", logAPIKey},
				{"the wrong API key a caller sent", logWrongKey},
			} {
				if strings.Contains(logs, leak.s) {
					t.Errorf("%s reached the log", leak.what)
				}
			}
			if m := hex40.FindAllString(logs, -1); m != nil {
				t.Errorf("40-hex-digit runs (a handshake digest?) in the log: %q", m)
			}
			// The handshake element never appears, even empty: it is sent
			// before stanza logging starts.
			for _, h := range []string{"<handshake", "handshake>", `\u003chandshake`} {
				if strings.Contains(logs, h) || strings.Contains(sl.recv+strings.Join(sl.sent, ""), h) {
					t.Errorf("the log holds %q", h)
				}
			}
		})
	}
}
