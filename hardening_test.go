package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/config"
	"github.com/xmpp-http-auth/http-auth/httpapi"
)

func TestOpenAPIWarning(t *testing.T) {
	tests := []struct {
		name       string
		keys       []string
		ipv4, ipv6 string
		want       string // "" = no warning, else a part of it
	}{
		{"loopback", nil, "127.0.0.1", "::1", ""},
		{"loopback range", nil, "127.0.0.2", "", ""},
		{"IPv6 loopback only", nil, "", "::1", ""},
		{"every address", nil, "0.0.0.0", "::1", "listens on 0.0.0.0, beyond loopback"},
		{"a public IPv4", nil, "192.0.2.10", "::1", "listens on 192.0.2.10, beyond loopback"},
		{"every IPv6 address", nil, "127.0.0.1", "::", "listens on ::, beyond loopback"},
		{"both", nil, "192.0.2.10", "2001:db8::1", "listens on 192.0.2.10 and 2001:db8::1"},
		{"keys on", []string{"k"}, "0.0.0.0", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := openAPIWarning(&config.Config{HTTPAPIKeys: tc.keys, HTTPBindAddressIPv4: tc.ipv4, HTTPBindAddressIPv6: tc.ipv6})
			switch {
			case tc.want == "" && got != "":
				t.Errorf("unexpected warning %q", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("warning %q lacks %q", got, tc.want)
			case tc.want != "" && !strings.Contains(got, "http_api_keys_file"):
				t.Errorf("warning %q does not say what to do", got)
			}
		})
	}
}

// startRun starts run with the configuration file conf and the extra
// environment env, waits until addr accepts connections, and stops run
// (checking it returns nil) when the test ends.
func startRun(t *testing.T, conf string, env map[string]string, addr string) *syncBuffer {
	t.Helper()
	logs := &syncBuffer{}
	e := map[string]string{"HOME": t.TempDir(), "XDG_CONFIG_DIRS": t.TempDir()}
	for k, v := range env {
		e[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--config", conf}, envOf(e), io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("run did not stop")
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return logs
		}
		select {
		case err := <-done:
			t.Fatalf("run returned at start-up: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never listened on %s\n%s", addr, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLogLine polls logs until they hold want.
func waitLogLine(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", want, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deadXMPPPort returns a port where nothing listens.
func deadXMPPPort(t *testing.T) string { return strconv.Itoa(freePort(t)) }

// TestRunReloadsCertificateOnSIGHUP: SIGHUP makes run load the HTTPS key
// pair again: new connections see the new certificate, an open keep-alive
// connection goes on working, and a pair that does not load leaves the
// old one in use.
func TestRunReloadsCertificateOnSIGHUP(t *testing.T) {
	// The test binary catches SIGHUP itself as well, so the signal can
	// never end it, whatever run does.
	hup := make(chan os.Signal, 4)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	one := writeSelfSigned(t, certFile, keyFile, "one")
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf := writeConf(t,
		"xmpp_jid=auth.localhost",
		"xmpp_secret=s",
		"xmpp_server_port="+deadXMPPPort(t),
		"http_port=-1",
		"https_port="+strconv.Itoa(port),
		"https_cert_path="+certFile,
		"https_key_path="+keyFile,
		"http_bind_address_ipv6=",
		"shutdown_grace_sec=1",
	)
	// run catches SIGHUP before it listens: once the port answers, the
	// signal reaches it.
	logs := startRun(t, conf, nil, addr)

	pool := x509.NewCertPool()
	pool.AddCert(one)
	old := dialTLS(t, addr, pool)
	defer old.Close()
	old.expectCert(t, one)
	old.expect523(t)

	sighup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	// A broken pair is refused; the old one stays.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	sighup()
	waitLogLine(t, logs, "SIGHUP: the HTTPS key pair did not load; the old one stays in use")
	c := dialTLS(t, addr, pool)
	c.expectCert(t, one)
	c.Close()

	// A new pair, moved into place as certificate tools do.
	two := writeSelfSigned(t, certFile+".new", keyFile+".new", "two")
	for _, mv := range [][2]string{{certFile + ".new", certFile}, {keyFile + ".new", keyFile}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	pool.AddCert(two)
	sighup()
	waitLogLine(t, logs, "SIGHUP: HTTPS key pair reloaded")
	c = dialTLS(t, addr, pool)
	c.expectCert(t, two)
	c.expect523(t)
	c.Close()

	// The connection opened before goes on, on its old certificate.
	old.expect523(t)
	old.expectCert(t, one)

	if strings.Contains(logs.String(), "SECURITY") {
		t.Errorf("a loopback gateway warned:\n%s", logs.String())
	}
}

// tlsConn is a keep-alive HTTPS connection spoken by hand, so the test
// knows requests go over this very connection.
type tlsConn struct {
	*tls.Conn
	r *bufio.Reader
}

func dialTLS(t *testing.T, addr string, pool *x509.CertPool) *tlsConn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	return &tlsConn{Conn: c, r: bufio.NewReader(c)}
}

func (c *tlsConn) expectCert(t *testing.T, want *x509.Certificate) {
	t.Helper()
	if got := c.ConnectionState().PeerCertificates[0]; !got.Equal(want) {
		t.Errorf("the server showed %q, want %q", got.Subject.CommonName, want.Subject.CommonName)
	}
}

// expect523 asks /auth over c; the gateway has no XMPP server, so the
// answer is 523, and the connection stays open.
func (c *tlsConn) expect523(t *testing.T) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /auth?jid=alice@localhost&domain=x&method=GET HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 523 || resp.Close {
		t.Errorf("got %d (close %v), want 523 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
}

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and its
// key, and returns the certificate.
func writeSelfSigned(t *testing.T, certFile, keyFile, name string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestRunAPIKeysAndLimits: run wires the API keys and the limits from the
// configuration: no key is a 403, a configured one gets through (to a 523:
// there is no XMPP server), the caller's rate is per key, and no key ever
// reaches the log.
func TestRunAPIKeysAndLimits(t *testing.T) {
	const alpha, beta = "alpha-key-0123456789", "beta-key-9876543210"
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf := writeConf(t,
		"xmpp_jid=auth.localhost",
		"xmpp_secret=s",
		"xmpp_server_port="+deadXMPPPort(t),
		"http_port="+strconv.Itoa(port),
		"http_bind_address_ipv6=",
		"limit_requests_per_caller_per_second=1",
		"shutdown_grace_sec=1",
	)
	logs := startRun(t, conf, map[string]string{"HTTPAUTH_HTTP_API_KEYS": alpha + ", " + beta}, addr)

	ask := func(key string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/auth?jid=alice@localhost&domain=x&method=GET", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
	}
	if code, _, body := ask(""); code != 403 || body != "forbidden: a valid API key is required (Authorization: Bearer KEY)\n" {
		t.Errorf("no key: %d %q", code, body)
	}
	if code, _, body := ask("wrong-key-000000"); code != 403 {
		t.Errorf("wrong key: %d %q", code, body)
	}
	if code, _, body := ask(beta); code != 523 {
		t.Errorf("beta: %d %q", code, body)
	}
	// One request per second, bursts of two: alpha is soon refused.
	var limited bool
	for range 20 {
		code, retry, body := ask(alpha)
		if code == 523 {
			continue
		}
		want := fmt.Sprintf("rate_limited: caller %s sent too many requests: at most 1 per second, bursts of 2 (limit_requests_per_caller_per_second)\n", httpapi.KeyID(alpha))
		if code != 429 || retry != "1" || body != want {
			t.Fatalf("alpha: %d Retry-After %q %q", code, retry, body)
		}
		limited = true
		break
	}
	if !limited {
		t.Fatal("the caller's limit never answered")
	}
	if code, _, body := ask(beta); code != 523 {
		t.Errorf("beta has its own bucket: %d %q", code, body)
	}
	waitLogLine(t, logs, "caller="+httpapi.KeyID(alpha))
	for _, secret := range []string{alpha, beta, "wrong-key-000000"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
}
