package httpapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// haveIPv6 reports whether this machine can listen on [::1].
func haveIPv6() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// writeKeyPair writes a self-signed certificate for 127.0.0.1 and ::1 and
// its key; it returns the two paths and the certificate.
func writeKeyPair(t *testing.T, dir, name string) (certFile, keyFile string, cert *x509.Certificate) {
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
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, name+".pem")
	keyFile = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func closeAll(ls []Listener) {
	for _, l := range ls {
		l.Close()
	}
}

func port(t *testing.T, l net.Listener) int {
	t.Helper()
	return l.Addr().(*net.TCPAddr).Port
}

// serve runs Serve in the background; the returned func stops it and
// returns Serve's error.
func serve(t *testing.T, h http.Handler, ls []Listener) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := NewServer(h, nil)
	go func() { done <- Serve(ctx, srv, ls, time.Second, nil) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return")
			return nil
		}
	}
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestListenIPv4(t *testing.T) {
	ls, err := Listen(ListenConfig{IPv4: "127.0.0.1", HTTPPort: 0, HTTPSPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].TLS {
		closeAll(ls)
		t.Fatalf("listeners: %+v", ls)
	}
	addr := ls[0].Addr().(*net.TCPAddr)
	if !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) || addr.Port == 0 {
		t.Errorf("addr = %v", addr)
	}
	h, _ := newHandler(t, &fakeConfirmer{}, Options{})
	stop := serve(t, h, ls)
	code, body := get(t, http.DefaultClient, "http://"+addr.String()+"/auth?"+okParams)
	if code != 200 || body != "approved: the person approved the request\n" {
		t.Errorf("got %d %q", code, body)
	}
	if err := stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := net.Dial("tcp", addr.String()); err == nil {
		t.Error("still listening after Serve returned")
	}
}

func TestListenIPv4AndIPv6(t *testing.T) {
	if !haveIPv6() {
		t.Skip("no IPv6 on this machine")
	}
	ls, err := Listen(ListenConfig{IPv4: "127.0.0.1", IPv6: "[::1]", HTTPPort: 0, HTTPSPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 {
		closeAll(ls)
		t.Fatalf("listeners: %+v", ls)
	}
	if a := ls[1].Addr().(*net.TCPAddr); a.IP.To4() != nil || !a.IP.IsLoopback() {
		t.Errorf("second listener on %v", a)
	}
	// Port 0: the IPv6 listener takes the IPv4 one's port when it is free
	// there too, as it all but always is on [::1].
	if p4, p6 := port(t, ls[0]), port(t, ls[1]); p4 != p6 {
		t.Errorf("ports %d and %d differ", p4, p6)
	}
	h, _ := newHandler(t, &fakeConfirmer{}, Options{})
	stop := serve(t, h, ls)
	for _, l := range ls {
		if code, _ := get(t, http.DefaultClient, "http://"+l.Addr().String()+"/auth?"+okParams); code != 200 {
			t.Errorf("%v: code %d", l.Addr(), code)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestListenIPv6PortFallback: with port 0, the IPv6 listener gets a port
// of its own when the IPv4 one's is taken on IPv6.
func TestListenIPv6PortFallback(t *testing.T) {
	if !haveIPv6() {
		t.Skip("no IPv6 on this machine")
	}
	var refused string
	netListen := func(network, addr string) (net.Listener, error) {
		if network == "tcp6" && !strings.HasSuffix(addr, ":0") {
			refused = addr
			return nil, errors.New("address already in use")
		}
		return net.Listen(network, addr)
	}
	ls, err := listen(ListenConfig{IPv4: "127.0.0.1", IPv6: "[::1]", HTTPPort: 0, HTTPSPort: -1}, netListen)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(ls)
	p4 := port(t, ls[0])
	if want := net.JoinHostPort("::1", strconv.Itoa(p4)); refused != want {
		t.Errorf("tried %q first, want %q", refused, want)
	}
	if len(ls) != 2 || port(t, ls[1]) == 0 || port(t, ls[1]) == p4 {
		t.Errorf("listeners: %v", ls)
	}
}

// TestListenIPv6PortBusy: a given port busy on IPv6 is an error that says
// IPv6, and nothing is left open.
func TestListenIPv6PortBusy(t *testing.T) {
	if !haveIPv6() {
		t.Skip("no IPv6 on this machine")
	}
	busy, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	p := port(t, busy)
	ls, err := Listen(ListenConfig{IPv4: "127.0.0.1", IPv6: "::1", HTTPPort: p, HTTPSPort: -1})
	if err == nil {
		closeAll(ls)
		t.Fatal("no error for a busy IPv6 port")
	}
	if !strings.Contains(err.Error(), "IPv6") {
		t.Errorf("error does not say IPv6: %v", err)
	}
	l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Errorf("the IPv4 listener was left open: %v", err)
	} else {
		l.Close()
	}
}

// TestListenNoIPv6: a machine without IPv6 gets a clear error.
func TestListenNoIPv6(t *testing.T) {
	netListen := func(network, addr string) (net.Listener, error) {
		if network == "tcp6" {
			return nil, &net.OpError{Op: "listen", Net: network, Err: errors.New("cannot assign requested address")}
		}
		return net.Listen(network, addr)
	}
	_, err := listen(ListenConfig{IPv4: "127.0.0.1", IPv6: "[::1]", HTTPPort: 0, HTTPSPort: -1}, netListen)
	if err == nil || !strings.Contains(err.Error(), "cannot listen on IPv6 address [::1]:0") ||
		!strings.Contains(err.Error(), "leave the IPv6 bind address empty") {
		t.Errorf("error = %v", err)
	}
}

func TestListenEveryAddress(t *testing.T) {
	ls, err := Listen(ListenConfig{IPv4: "0.0.0.0", IPv6: "[::1]", HTTPPort: 0, HTTPSPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(ls)
	if len(ls) != 1 {
		t.Fatalf("%d listeners, want 1 (the IPv6 one skipped)", len(ls))
	}
	if a := ls[0].Addr().(*net.TCPAddr); !a.IP.IsUnspecified() {
		t.Errorf("addr = %v", a)
	}
}

func TestListenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  ListenConfig
		want string
	}{
		{"nothing on", ListenConfig{IPv4: "127.0.0.1", HTTPPort: -1, HTTPSPort: -1}, "neither HTTP nor HTTPS is on"},
		{"bad port", ListenConfig{IPv4: "127.0.0.1", HTTPPort: 70000, HTTPSPort: -1}, "HTTP port 70000: must be"},
		{"bad port -2", ListenConfig{IPv4: "127.0.0.1", HTTPPort: 0, HTTPSPort: -2}, "HTTPS port -2: must be"},
		{"no address", ListenConfig{HTTPPort: 0, HTTPSPort: -1}, "no bind address"},
		{"IPv6 as IPv4", ListenConfig{IPv4: "::1", HTTPPort: 0, HTTPSPort: -1}, `IPv4 bind address "::1"`},
		{"name as IPv4", ListenConfig{IPv4: "localhost", HTTPPort: 0, HTTPSPort: -1}, `IPv4 bind address "localhost"`},
		{"IPv4 as IPv6", ListenConfig{IPv6: "127.0.0.1", HTTPPort: 0, HTTPSPort: -1}, `IPv6 bind address "127.0.0.1"`},
		{"mapped as IPv6", ListenConfig{IPv6: "[::ffff:127.0.0.1]", HTTPPort: 0, HTTPSPort: -1}, `IPv6 bind address`},
		{"missing certificate", ListenConfig{IPv4: "127.0.0.1", HTTPPort: 0, HTTPSPort: 0,
			CertFile: filepath.Join(dir, "none.pem"), KeyFile: filepath.Join(dir, "none.key")}, "loading the HTTPS key pair"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ls, err := Listen(tc.cfg)
			if err == nil {
				closeAll(ls)
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "httpapi: ") {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestHTTPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := writeKeyPair(t, dir, "one")
	ls, err := Listen(ListenConfig{IPv4: "127.0.0.1", HTTPPort: 0, HTTPSPort: 0, CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].TLS || !ls[1].TLS {
		closeAll(ls)
		t.Fatalf("listeners: %+v", ls)
	}
	h, _ := newHandler(t, &fakeConfirmer{}, Options{})
	stop := serve(t, h, ls)
	defer stop()

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	url := "https://" + ls[1].Addr().String() + "/auth?" + okParams
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("code %d, TLS %+v", resp.StatusCode, resp.TLS)
	}

	// TLS 1.1 is refused.
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(url); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client got through")
	}
	// Plain HTTP on the HTTPS port gets no API answer.
	if resp, err := http.Get("http://" + ls[1].Addr().String() + "/auth?" + okParams); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served on the HTTPS port")
		}
	}
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, one := writeKeyPair(t, dir, "one")
	c, err := LoadCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func() *x509.Certificate {
		t.Helper()
		p, err := c.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		x, err := x509.ParseCertificate(p.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	if !leaf().Equal(one) {
		t.Fatal("not the loaded certificate")
	}
	// A broken file keeps the pair in use.
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err == nil {
		t.Error("no error for a broken certificate")
	}
	if !leaf().Equal(one) {
		t.Error("the pair changed after a failed reload")
	}
	// A new pair in the same files is picked up.
	two, twoKey, twoCert := writeKeyPair(t, dir, "two")
	for _, mv := range [][2]string{{two, certFile}, {twoKey, keyFile}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if !leaf().Equal(twoCert) {
		t.Error("the new pair is not in use")
	}
	if conf := TLSConfig(c); conf.MinVersion != tls.VersionTLS12 || conf.GetCertificate == nil {
		t.Errorf("TLS config: min version %x", conf.MinVersion)
	}
}

func TestNewServer(t *testing.T) {
	srv := NewServer(http.NotFoundHandler(), nil)
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 30*time.Second ||
		srv.IdleTimeout != 120*time.Second || srv.MaxHeaderBytes != 16<<10 || srv.ErrorLog == nil {
		t.Errorf("server settings: %+v", srv)
	}
	if srv.WriteTimeout <= MaxTimeout {
		t.Errorf("WriteTimeout %v does not outlast the longest wait %v", srv.WriteTimeout, MaxTimeout)
	}
}

// TestErrorLogLevels: net/http's own errors reach slog; TLS handshake
// noise only at debug.
func TestErrorLogLevels(t *testing.T) {
	logs := &syncBuffer{}
	srv := NewServer(http.NotFoundHandler(), newTextLogger(logs))
	srv.ErrorLog.Print("http: TLS handshake error from 192.0.2.1:5: EOF")
	srv.ErrorLog.Print("http: Accept error: boom")
	got := logs.String()
	if !strings.Contains(got, `level=DEBUG msg="http: TLS handshake error`) || !strings.Contains(got, `level=WARN msg="http: Accept error: boom"`) {
		t.Errorf("log:\n%s", got)
	}
}

// TestServeListenerFails: a listener that cannot serve stops Serve with
// its error, and the others are shut down.
func TestServeListenerFails(t *testing.T) {
	good, err := Listen(ListenConfig{IPv4: "127.0.0.1", HTTPPort: 0, HTTPSPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bad.Close()
	err = Serve(context.Background(), NewServer(http.NotFoundHandler(), nil),
		append(good, Listener{Listener: bad}), time.Second, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "httpapi: serving on ") {
		t.Errorf("Serve = %v", err)
	}
	if c, err := net.Dial("tcp", good[0].Addr().String()); err == nil {
		c.Close()
		t.Error("the good listener is still open")
	}
}

// TestServeGrace: a request still running after the grace period is cut
// off, and Serve returns.
func TestServeGrace(t *testing.T) {
	ls, err := Listen(ListenConfig{IPv4: "127.0.0.1", HTTPPort: 0, HTTPSPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done() // only the forced close ends it
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, NewServer(h, nil), ls, 50*time.Millisecond, nil) }()
	clientErr := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + ls[0].Addr().String() + "/")
		if err == nil {
			resp.Body.Close()
		}
		clientErr <- err
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the grace period")
	}
	if err := <-clientErr; err == nil {
		t.Error("the cut-off request got an answer")
	}
}
