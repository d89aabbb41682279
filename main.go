// Command http-auth is an XEP-0070 gateway: web sites ask over HTTP
// whether a request may go ahead, and the person confirms it in their XMPP
// client. It runs as a XEP-0114 external component of a Prosody or
// ejabberd server, or logs in as an ordinary account (client mode), and
// serves its HTTP API (see README.md).
//
// main only wires the packages together; run does the work, so tests can
// start the whole program.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/xmpp-http-auth/http-auth/component"
	"github.com/xmpp-http-auth/http-auth/config"
	"github.com/xmpp-http-auth/http-auth/httpapi"
	"github.com/xmpp-http-auth/http-auth/i18n"
)

// builtinMessages is the built-in copy of messages.toml; a messages.toml
// next to the configuration file replaces it.
//
//go:embed messages.toml
var builtinMessages []byte

// version is set at build time (-ldflags "-X main.version=...").
var version = ""

// Compile-time check: the component is what the HTTP API asks.
var _ httpapi.Confirmer = (*component.Gateway)(nil)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// run reads the environment through getenv, which cannot list it: the
	// unknown HTTPAUTH_* variables are looked for here.
	for _, w := range config.UnknownEnv(os.Environ()) {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
}

// run starts the gateway and returns when ctx is done (after a graceful
// shutdown) or on a start-up error.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("http-auth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path of httpAuth.conf (default: the XDG lookup)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("http-auth: unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *showVersion {
		fmt.Fprintf(stdout, "http-auth %s\n", buildVersion())
		return nil
	}

	langs := func(dir string) ([]string, error) { return i18n.Languages(builtinMessages, dir) }
	cfg, warnings, err := config.Load(*configPath, getenv, langs)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
	texts, err := i18n.Load(builtinMessages, cfg.Dir, cfg.XMPPDefaultLang)
	if err != nil {
		return err
	}

	xo := component.Options{
		Domain:       cfg.XMPPJID,
		Secret:       cfg.XMPPSecret,
		Address:      cfg.XMPPAddress(),
		Version:      buildVersion(),
		Texts:        texts,
		Logger:       logger,
		Debug:        cfg.XMPPDebug,
		PingInterval: cfg.XMPPPingInterval,
	}
	if cfg.ClientMode() {
		// Logged in as an ordinary account over c2s (README, "Client mode").
		xo.Domain, xo.Account = "", cfg.XMPPJID
		xo.InsecureSkipVerify = !cfg.XMPPVerifyCertValidity
	}
	gw := component.New(xo)
	if w := openAPIWarning(cfg); w != "" {
		logger.Warn(w, "http_bind_address_ipv4", cfg.HTTPBindAddressIPv4, "http_bind_address_ipv6", cfg.HTTPBindAddressIPv6)
	}
	handler := httpapi.New(httpapi.Options{
		Confirmer:      gw,
		Logger:         logger,
		DefaultTimeout: cfg.HTTPTimeout,
		APIKeys:        cfg.HTTPAPIKeys,
		Limiter: httpapi.NewLimiter(httpapi.Limits{
			PendingPerJID:              cfg.LimitPendingPerJID,
			RequestsPerJIDPerMinute:    cfg.LimitRequestsPerJIDPerMinute,
			RequestsPerCallerPerSecond: cfg.LimitRequestsPerCallerPerSecond,
			PendingTotal:               cfg.LimitPendingTotal,
		}, nil),
	})
	var cert *httpapi.Certificate
	if cfg.HTTPSPort >= 0 {
		if cert, err = httpapi.LoadCertificate(cfg.HTTPSCertPath, cfg.HTTPSKeyPath); err != nil {
			return err
		}
	}
	// SIGHUP reloads the HTTPS key pair; it is caught before any listener
	// opens, so it never ends the process.
	stopReload := reloadOnSIGHUP(ctx, cert, logger)
	defer stopReload()
	listeners, err := httpapi.Listen(httpapi.ListenConfig{
		IPv4:        cfg.HTTPBindAddressIPv4,
		IPv6:        cfg.HTTPBindAddressIPv6,
		HTTPPort:    cfg.HTTPPort,
		HTTPSPort:   cfg.HTTPSPort,
		CertFile:    cfg.HTTPSCertPath,
		KeyFile:     cfg.HTTPSKeyPath,
		Certificate: cert,
	})
	if err != nil {
		return err
	}
	srv := httpapi.NewServer(handler, logger)

	// The stream outlives the HTTP side: it is closed only after the
	// pending requests have had their answers.
	gwCtx, stopGW := context.WithCancel(context.WithoutCancel(ctx))
	gwDone := make(chan error, 1)
	go func() { gwDone <- gw.Run(gwCtx) }()

	httpCtx, stopHTTP := context.WithCancel(ctx)
	defer stopHTTP()
	httpDone := make(chan error, 1)
	go func() { httpDone <- httpapi.Serve(httpCtx, srv, listeners, cfg.ShutdownGrace+5*time.Second, logger) }()

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "grace", cfg.ShutdownGrace, "pending", gw.Pending())
	case serveErr = <-httpDone:
		httpDone <- serveErr
		logger.Error("the HTTP server stopped", "err", serveErr)
	}
	stopHTTP() // stop accepting; requests in flight go on
	grace, cancelGrace := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	gw.Shutdown(grace) // new requests get 523; pending ones finish or get 523
	cancelGrace()
	<-httpDone
	stopGW()
	<-gwDone
	logger.Info("stopped")
	return serveErr
}

// reloadOnSIGHUP reloads cert (nil when HTTPS is off) on every SIGHUP
// until ctx is done or stop is called; stop returns once the watcher has
// ended. A pair that fails to load is logged and the old one stays in
// use. Connections and pending requests are untouched: only new TLS
// handshakes see the new pair.
func reloadOnSIGHUP(ctx context.Context, cert *httpapi.Certificate, logger *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if cert == nil {
					logger.Info("SIGHUP: nothing to reload (HTTPS is off)")
				} else if err := cert.Reload(); err != nil {
					logger.Error("SIGHUP: the HTTPS key pair did not load; the old one stays in use", "err", err)
				} else {
					logger.Info("SIGHUP: HTTPS key pair reloaded")
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// openAPIWarning returns a warning when the HTTP API is open to anyone who
// can reach it: no API keys, and a bind address that is not loopback.
// Otherwise "".
func openAPIWarning(cfg *config.Config) string {
	if len(cfg.HTTPAPIKeys) > 0 {
		return ""
	}
	var open []string
	for _, a := range []string{cfg.HTTPBindAddressIPv4, cfg.HTTPBindAddressIPv6} {
		if a == "" {
			continue
		}
		ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(a, "["), "]"))
		if err != nil || !ip.IsLoopback() {
			open = append(open, a)
		}
	}
	if len(open) == 0 {
		return ""
	}
	return "SECURITY: the HTTP API has no API keys and listens on " + strings.Join(open, " and ") +
		", beyond loopback: anyone who can reach it can make the gateway send confirmation requests to any JID in its name." +
		" Set http_api_keys_file (or http_api_keys), or bind to 127.0.0.1 / [::1] behind a proxy that checks callers"
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("config: log_level: %q is not allowed: debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// buildVersion is the version set at build time, else the module's.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		if v != "" {
			return v
		}
	}
	return "dev"
}
