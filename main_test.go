package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeConf(t *testing.T, lines ...string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "httpAuth.conf")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, envOf(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "http-auth ") {
		t.Fatalf("--version printed %q", out.String())
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"extra"}, envOf(nil), &out, &out); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Fatalf("got %v", err)
	}
	if err := run(context.Background(), []string{"--config", filepath.Join(t.TempDir(), "missing.conf")}, envOf(nil), &out, &out); err == nil {
		t.Fatal("a missing --config file must be an error")
	}
}

// Every problem of a bad configuration is reported at once, each naming
// its key, and the secret never shows.
func TestRunReportsEveryConfigProblem(t *testing.T) {
	p := writeConf(t,
		"xmpp_jid=auth.example.org",
		"xmpp_secret=hunter2-very-secret",
		"xmpp_server_port=99999",
		"http_port=-5",
		"http_timeout_sec=0",
		"log_format=xml",
		"no_such_key=1",
	)
	var out bytes.Buffer
	err := run(context.Background(), []string{"--config", p}, envOf(nil), &out, &out)
	if err == nil {
		t.Fatal("a bad configuration started")
	}
	for _, key := range []string{"xmpp_server_port", "http_port", "http_timeout_sec", "log_format", "no_such_key"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("the error does not name %s:\n%v", key, err)
		}
	}
	if strings.Contains(err.Error()+out.String(), "hunter2") {
		t.Fatal("the secret reached the error or the log")
	}
}

// Client mode starts: with xmpp_jid an account, run logs in over c2s
// (here it finds no server: it says so, naming the account, and answers
// 523 until it can), and stops cleanly. The login itself is tested in
// component/ and end to end in TestEndToEndClientMode.
func TestRunClientModeStarts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	xmppPort := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there
	httpPort := freePort(t)
	p := writeConf(t, "xmpp_jid=gateway@example.org/auth", "xmpp_secret=account-password",
		"xmpp_server_port="+strconv.Itoa(xmppPort), "http_port="+strconv.Itoa(httpPort), "http_bind_address_ipv6=")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs syncBuffer
	go func() { done <- run(ctx, []string{"--config", p}, envOf(nil), &bytes.Buffer{}, &logs) }()
	url := fmt.Sprintf("http://127.0.0.1:%d/auth?jid=alice@example.org&domain=x&method=GET", httpPort)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 523 {
				t.Fatalf("got %d, want 523 while not logged in", resp.StatusCode)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run returned at start-up: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never listened: %v\n%s", err, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for !strings.Contains(logs.String(), "account=gateway@example.org/auth") {
		if time.Now().After(deadline) {
			t.Fatalf("no connection attempt as the account:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "account-password") {
		t.Fatal("the password reached the log")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
}

// With no XMPP server, the program runs, answers 523 at once, and stops
// cleanly (exit 0) when its context ends, as on SIGTERM. The configuration
// comes from the environment alone, with no file (XDG lookup finds none).
func TestRunWithoutServerAnswers523AndStops(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	xmppPort := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there
	httpPort := freePort(t)
	env := map[string]string{
		"HOME":                            t.TempDir(),
		"XDG_CONFIG_DIRS":                 t.TempDir(),
		"HTTPAUTH_XMPP_JID":               "auth.localhost",
		"HTTPAUTH_XMPP_SECRET":            "s",
		"HTTPAUTH_XMPP_SERVER_PORT":       strconv.Itoa(xmppPort),
		"HTTPAUTH_HTTP_PORT":              strconv.Itoa(httpPort),
		"HTTPAUTH_HTTP_BIND_ADDRESS_IPV6": "",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs syncBuffer
	go func() { done <- run(ctx, nil, envOf(env), &bytes.Buffer{}, &logs) }()
	url := fmt.Sprintf("http://127.0.0.1:%d/auth?jid=alice@localhost&domain=x&method=GET", httpPort)
	deadline := time.Now().Add(10 * time.Second)
	var resp *http.Response
	for {
		resp, err = http.Get(url)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never listened: %v\n%s", err, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp.Body.Close()
	if resp.StatusCode != 523 {
		t.Fatalf("got %d, want 523 while disconnected", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
}

// A messages.toml next to the configuration replaces the built-in one,
// and xmpp_default_lang must be one of its languages.
func TestRunMessagesNextToConfig(t *testing.T) {
	p := writeConf(t, "xmpp_jid=auth.localhost", "xmpp_secret=x", "http_port=0", "xmpp_default_lang=fr")
	only := "[en]\nconfirm_body = \"{{.URL}} {{.Method}} {{.Code}}\"\nconfirm_subject = \"s\"\n"
	if err := os.WriteFile(filepath.Join(filepath.Dir(p), "messages.toml"), []byte(only), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"--config", p}, envOf(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "xmpp_default_lang") {
		t.Fatalf("got %v", err)
	}
}
