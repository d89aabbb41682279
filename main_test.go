package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/config"
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
	// One line: the version, the commit and the Go toolchain.
	if got := out.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, "(commit ") ||
		!strings.Contains(got, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+")") {
		t.Fatalf("--version printed %q", got)
	}
	version, commit = "v1.2.3", "0123456789abcdef0123456789abcdef01234567"
	t.Cleanup(func() { version, commit = "", "" })
	out.Reset()
	if err := run(context.Background(), []string{"--version"}, envOf(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	if want := "http-auth v1.2.3 (commit 0123456789abcdef0123456789abcdef01234567, " + runtime.Version(); !strings.HasPrefix(out.String(), want) {
		t.Fatalf("--version printed %q, want %q...", out.String(), want)
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

// --check-config prints the effective configuration, one key=value per
// line in the order of config.Keys, secrets masked, and exits without
// listening or connecting; a bad configuration, messages file or HTTPS
// key pair is an error listing the problems.
func TestRunCheckConfig(t *testing.T) {
	t.Run("valid", func(t *testing.T) {
		p := writeConf(t, "xmpp_jid=auth.example.org", "xmpp_secret=hunter2-check-secret",
			"http_port=8080", "http_api_keys=check-key-1,check-key-2", "log_format=json")
		env := map[string]string{"HTTPAUTH_SHUTDOWN_GRACE_SEC": "3"}
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{"--config", p, "--check-config"}, envOf(env), &out, &errOut); err != nil {
			t.Fatalf("valid configuration: %v\n%s", err, errOut.String())
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		keys := config.Keys()
		if len(lines) != len(keys) {
			t.Fatalf("%d lines, want %d:\n%s", len(lines), len(keys), out.String())
		}
		got := map[string]string{}
		for i, l := range lines {
			k, v, ok := strings.Cut(l, "=")
			if !ok || k != keys[i] {
				t.Fatalf("line %d is %q, want key %s", i+1, l, keys[i])
			}
			got[k] = v
		}
		for k, want := range map[string]string{
			"xmpp_jid": "auth.example.org", "xmpp_secret": "***", "http_api_keys": "***",
			"http_port": "8080", "xmpp_server_port": "5347", "log_format": "json",
			"shutdown_grace_sec": "3", "http_bind_address_ipv6": "[::1]", "metrics_bind_address": "",
		} {
			if got[k] != want {
				t.Errorf("%s=%q, want %q", k, got[k], want)
			}
		}
		if all := out.String() + errOut.String(); strings.Contains(all, "hunter2") || strings.Contains(all, "check-key") {
			t.Fatal("a secret was printed")
		}
	})
	tests := []struct {
		name  string
		lines []string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"bad keys", []string{"xmpp_jid=auth.example.org", "xmpp_secret=hunter2-check-secret", "http_port=99999", "log_level=loud"},
			nil, []string{"http_port", "log_level"}},
		{"bad messages", []string{"xmpp_jid=auth.example.org", "xmpp_secret=hunter2-check-secret", "http_port=8080"},
			func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "messages.toml"), "[en]\nconfirm_body = \"{{.URL}}\"\n[fr]\nconfirm_body = \"{{.URL}}\"\nconfirm_subject = \"s\"\n")
			}, []string{"confirm_subject"}},
		{"missing HTTPS key pair", []string{"xmpp_jid=auth.example.org", "xmpp_secret=hunter2-check-secret", "https_port=8443"},
			nil, []string{"cert.pem"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConf(t, tc.lines...)
			if tc.setup != nil {
				tc.setup(t, filepath.Dir(p))
			}
			var out bytes.Buffer
			err := run(context.Background(), []string{"--check-config", "--config", p}, envOf(nil), &out, &out)
			if err == nil {
				t.Fatalf("accepted:\n%s", out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not name %s:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error()+out.String(), "hunter2") {
				t.Fatal("the secret reached the output")
			}
			if strings.Contains(out.String(), "xmpp_jid=") {
				t.Errorf("a bad configuration was printed:\n%s", out.String())
			}
		})
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// With metrics_bind_address, /metrics is served there and only there; the
// API listener has /healthz (200) and /readyz (503 while no XMPP server
// answers); run stops both cleanly.
func TestRunHealthAndSeparateMetrics(t *testing.T) {
	xmppPort, httpPort, metricsPort := freePort(t), freePort(t), freePort(t)
	p := writeConf(t, "xmpp_jid=auth.localhost", "xmpp_secret=s",
		"xmpp_server_port="+strconv.Itoa(xmppPort), "http_port="+strconv.Itoa(httpPort), "http_bind_address_ipv6=",
		"metrics_bind_address=127.0.0.1:"+strconv.Itoa(metricsPort))
	env := map[string]string{"HOME": t.TempDir(), "XDG_CONFIG_DIRS": t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs syncBuffer
	go func() { done <- run(ctx, []string{"--config", p}, envOf(env), &bytes.Buffer{}, &logs) }()
	get := func(port int, path string) (int, string) {
		t.Helper()
		url := fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get(url)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(b)
			}
			select {
			case err := <-done:
				t.Fatalf("run returned at start-up: %v\n%s", err, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v\n%s", url, err, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if code, body := get(httpPort, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(httpPort, "/readyz"); code != 503 || body != "not_ready: the gateway is not connected to its XMPP server\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, _ := get(httpPort, "/metrics"); code != 404 {
		t.Errorf("/metrics on the API listener: %d, want 404", code)
	}
	get(httpPort, "/auth?jid=alice@localhost&domain=x&method=GET") // 523: counted
	code, body := get(metricsPort, "/metrics")
	for _, want := range []string{"http_auth_xmpp_connected 0", `http_auth_refused_total{limit="",reason="not_connected"} 1`,
		"http_auth_build_info{version=", "go_goroutines ", "process_start_time_seconds "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code != 200 || t.Failed() {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	if strings.Contains(logs.String(), "/healthz") || strings.Contains(logs.String(), "/metrics") {
		t.Errorf("health checks or scrapes were logged:\n%s", logs.String())
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
	if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(metricsPort)); err == nil {
		c.Close()
		t.Fatal("the metrics listener is still open after run returned")
	}
}
