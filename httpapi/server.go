package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Timeouts and limits of the HTTP server (NewServer).
const (
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request, body included. (net/http
	// clears the read deadline once the body is read, so it does not cut
	// a long wait for the person short.)
	ReadTimeout    = 30 * time.Second
	IdleTimeout    = 120 * time.Second
	MaxHeaderBytes = 16 << 10
	// WriteTimeout outlasts the longest wait (MaxTimeout) plus a margin
	// for the answer to be written.
	WriteTimeout = MaxTimeout + 30*time.Second
)

// ListenConfig says where the API listens.
type ListenConfig struct {
	// IPv4 is an IPv4 address such as "127.0.0.1"; "0.0.0.0" means every
	// address, IPv4 and IPv6, and IPv6 is then ignored; "" means no IPv4
	// listener.
	IPv4 string
	// IPv6 is an IPv6 address, with or without brackets ("[::1]"); ""
	// means no IPv6 listener.
	IPv6 string
	// HTTPPort and HTTPSPort: -1 is off, 0 picks a free port.
	HTTPPort, HTTPSPort int
	// CertFile and KeyFile hold the HTTPS key pair (PEM), loaded when
	// HTTPSPort is on and Certificate is nil.
	CertFile, KeyFile string
	// Certificate, when not nil, serves HTTPS instead of CertFile and
	// KeyFile; keep it to Reload the pair later (on SIGHUP).
	Certificate *Certificate
}

// Listener is one listening socket of the API. A TLS listener does the
// TLS handshake itself (it is wrapped by tls.NewListener), so every
// Listener is served the same way, with http.Server.Serve.
type Listener struct {
	net.Listener
	TLS bool
}

// Listen opens every listener cfg asks for: HTTP then HTTPS, each on the
// IPv4 then the IPv6 address. With port 0 the IPv6 listener first tries
// the port the IPv4 one got, so both addresses share a port when they can.
// On error nothing is left open.
func Listen(cfg ListenConfig) ([]Listener, error) {
	return listen(cfg, net.Listen)
}

// listen is Listen with the socket call injected, so tests can refuse a
// port.
func listen(cfg ListenConfig, netListen func(network, addr string) (net.Listener, error)) ([]Listener, error) {
	for _, p := range []struct {
		name string
		port int
	}{{"HTTP", cfg.HTTPPort}, {"HTTPS", cfg.HTTPSPort}} {
		if p.port < -1 || p.port > 65535 {
			return nil, fmt.Errorf("httpapi: %s port %d: must be -1 (off), 0 (any free port) or 1 to 65535", p.name, p.port)
		}
	}
	if cfg.HTTPPort < 0 && cfg.HTTPSPort < 0 {
		return nil, errors.New("httpapi: neither HTTP nor HTTPS is on")
	}
	addrs, err := bindAddrs(cfg.IPv4, cfg.IPv6)
	if err != nil {
		return nil, err
	}

	var tlsConf *tls.Config
	if cfg.HTTPSPort >= 0 {
		cert := cfg.Certificate
		if cert == nil {
			if cert, err = LoadCertificate(cfg.CertFile, cfg.KeyFile); err != nil {
				return nil, err
			}
		}
		tlsConf = TLSConfig(cert)
	}

	var ls []Listener
	fail := func(err error) ([]Listener, error) {
		for _, l := range ls {
			l.Close()
		}
		return nil, err
	}
	for _, p := range []struct {
		port int
		tls  bool
	}{{cfg.HTTPPort, false}, {cfg.HTTPSPort, true}} {
		if p.port < 0 {
			continue
		}
		got := 0 // the port the first address got, when p.port is 0
		for _, a := range addrs {
			var l net.Listener
			var err error
			if p.port == 0 && got != 0 {
				l, err = netListen(a.network, net.JoinHostPort(a.host, strconv.Itoa(got)))
			}
			if l == nil {
				l, err = netListen(a.network, net.JoinHostPort(a.host, strconv.Itoa(p.port)))
			}
			if err != nil {
				return fail(a.listenError(p.port, err))
			}
			if got == 0 {
				got = l.Addr().(*net.TCPAddr).Port
			}
			if p.tls {
				l = tls.NewListener(l, tlsConf)
			}
			ls = append(ls, Listener{Listener: l, TLS: p.tls})
		}
	}
	return ls, nil
}

// bindAddr is one address to listen on.
type bindAddr struct {
	network string // tcp4, tcp6, or tcp for every address
	host    string // "" for every address
	ipv6    bool
}

func (a bindAddr) listenError(port int, err error) error {
	where := net.JoinHostPort(a.host, strconv.Itoa(port))
	if a.ipv6 {
		return fmt.Errorf("httpapi: cannot listen on IPv6 address %s: %w (if this machine has no IPv6, leave the IPv6 bind address empty)", where, err)
	}
	return fmt.Errorf("httpapi: cannot listen on %s: %w", where, err)
}

// bindAddrs checks the configured addresses: IP literals only, so a name
// never resolves to something unexpected.
func bindAddrs(v4, v6 string) ([]bindAddr, error) {
	var addrs []bindAddr
	if v4 != "" {
		a, err := netip.ParseAddr(v4)
		switch {
		case err != nil || !a.Is4():
			return nil, fmt.Errorf("httpapi: IPv4 bind address %q: must be an IPv4 address such as 127.0.0.1, or 0.0.0.0 for every address", v4)
		case a.IsUnspecified():
			// Every address, IPv4 and IPv6 (dual stack): no IPv6 listener.
			return []bindAddr{{network: "tcp"}}, nil
		}
		addrs = append(addrs, bindAddr{network: "tcp4", host: a.String()})
	}
	if v6 != "" {
		s := strings.TrimSuffix(strings.TrimPrefix(v6, "["), "]")
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Is4In6() {
			return nil, fmt.Errorf("httpapi: IPv6 bind address %q: must be an IPv6 address such as [::1]", v6)
		}
		addrs = append(addrs, bindAddr{network: "tcp6", host: a.String(), ipv6: true})
	}
	if len(addrs) == 0 {
		return nil, errors.New("httpapi: no bind address: give an IPv4 or an IPv6 address")
	}
	return addrs, nil
}

// Certificate is the HTTPS key pair. Reload swaps it atomically, so new
// handshakes use the new pair while the server runs. Safe for concurrent
// use.
type Certificate struct {
	certFile, keyFile string
	pair              atomic.Pointer[tls.Certificate]
}

// LoadCertificate loads a PEM key pair.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the key pair again from its files; on error the pair in
// use stays.
func (c *Certificate) Reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		// tls's errors name the files, never the key.
		return fmt.Errorf("httpapi: loading the HTTPS key pair: %w", err)
	}
	c.pair.Store(&pair)
	return nil
}

// GetCertificate returns the pair in use; it fits tls.Config.GetCertificate.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.pair.Load(), nil
}

// TLSConfig returns the server's TLS settings: TLS 1.2 at least, the
// pair from c, HTTP/1.1 (the API is plain request and answer).
func TLSConfig(c *Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.GetCertificate,
		NextProtos:     []string{"http/1.1"},
	}
}

// NewServer returns an http.Server for h with every timeout set, its
// error log routed to logger.
func NewServer(h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          log.New(errorLog{logger.With("component", "http")}, "", 0),
	}
}

// errorLog carries net/http's own error lines to slog: TLS handshake
// failures (scanners, clients that distrust the certificate) at debug,
// the rest at warn.
type errorLog struct{ logger *slog.Logger }

func (e errorLog) Write(p []byte) (int, error) {
	msg := string(bytes.TrimRight(p, "\n"))
	level := slog.LevelWarn
	if strings.Contains(msg, "TLS handshake error") {
		level = slog.LevelDebug
	}
	e.logger.Log(context.Background(), level, msg)
	return len(p), nil
}

// Serve serves srv on every listener until ctx is done or one fails. Then
// it shuts srv down: listeners close at once, requests in flight get up
// to grace to finish (the Confirmer answers the pending ones "shutting
// down" in that time), and whatever is left is closed. It returns once
// every listener has stopped: nil after ctx is done, else the first error.
func Serve(ctx context.Context, srv *http.Server, ls []Listener, grace time.Duration, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "http")
	errs := make(chan error, len(ls))
	var wg sync.WaitGroup
	for _, l := range ls {
		scheme := "http"
		if l.TLS {
			scheme = "https"
		}
		logger.Info("listening", "addr", l.Addr().String(), "scheme", scheme)
		wg.Go(func() {
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("httpapi: serving on %s: %w", l.Addr(), err)
			}
		})
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		logger.Warn("requests still running after the grace period; closing them", "grace", grace)
		srv.Close()
	}
	// Parked requests (park.go) left net/http: wait for their answers too.
	if h, ok := srv.Handler.(*Handler); ok && !h.waitParked(sctx) {
		logger.Warn("parked requests still unanswered after the grace period", "grace", grace)
	}
	wg.Wait()
	return err
}
