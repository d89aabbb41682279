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
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
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

// version and commit are set at build time (-ldflags "-X main.version=...
// -X main.commit=..."); else they come from the module's build information.
var (
	version = ""
	commit  = ""
)

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
	showVersion := fs.Bool("version", false, "print the version, the commit and the Go version, and exit")
	checkOnly := fs.Bool("check-config", false, "check the configuration and the messages, print the effective configuration (secrets masked), and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("http-auth: unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionLine())
		return nil
	}

	langs := func(dir string) ([]string, error) { return i18n.Languages(builtinMessages, dir) }
	cfg, warnings, err := config.Load(*configPath, getenv, langs)
	if *checkOnly {
		return checkConfig(cfg, warnings, err, stdout, stderr)
	}
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
	metrics := httpapi.NewMetrics(httpapi.MetricsOptions{Version: buildVersion(), XMPP: gw.Stats, Runtime: true})
	handler := httpapi.New(httpapi.Options{
		Confirmer:        gw,
		Logger:           logger,
		DefaultTimeout:   cfg.HTTPTimeout,
		APIKeys:          cfg.HTTPAPIKeys,
		Metrics:          metrics,
		MetricsElsewhere: cfg.MetricsBindAddress != "",
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
	// With metrics_bind_address, /metrics is served there only, on a
	// server of its own that lives until the gateway has stopped.
	var metricsListeners []httpapi.Listener
	if cfg.MetricsBindAddress != "" {
		l, err := net.Listen("tcp", cfg.MetricsBindAddress)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("http-auth: metrics_bind_address: cannot listen on %s: %w", cfg.MetricsBindAddress, err)
		}
		metricsListeners = []httpapi.Listener{{Listener: l}}
	}
	metricsCtx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMetrics()
	metricsDone := make(chan struct{})
	go func() {
		defer close(metricsDone)
		if metricsListeners == nil {
			return
		}
		mlog := logger.With("listener", "metrics")
		if err := httpapi.Serve(metricsCtx, httpapi.NewServer(httpapi.MetricsHandler(metrics), mlog), metricsListeners, time.Second, mlog); err != nil {
			mlog.Error("the metrics server stopped", "err", err)
		}
	}()
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
	stopMetrics()
	<-metricsDone
	logger.Info("stopped")
	return serveErr
}

// checkConfig is --check-config: given what config.Load returned, it
// checks the messages (every language has every id; xmpp_default_lang is
// one of them) and the HTTPS key pair when HTTPS is on, then prints the
// effective configuration, one key=value per line in the order of
// config.Keys with secrets masked, to stdout. It returns nil when all is
// well, else every problem found; warnings go to stderr.
func checkConfig(cfg *config.Config, warnings []string, loadErr error, stdout, stderr io.Writer) error {
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if loadErr != nil {
		return loadErr
	}
	var problems []error
	if _, err := i18n.Load(builtinMessages, cfg.Dir, cfg.XMPPDefaultLang); err != nil {
		problems = append(problems, err)
	}
	if cfg.HTTPSPort >= 0 {
		if _, err := httpapi.LoadCertificate(cfg.HTTPSCertPath, cfg.HTTPSKeyPath); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	if w := openAPIWarning(cfg); w != "" {
		fmt.Fprintln(stderr, "warning:", w)
	}
	masked := cfg.Masked()
	var b strings.Builder
	for _, k := range config.Keys() {
		fmt.Fprintf(&b, "%s=%s\n", k, masked[k])
	}
	_, err := io.WriteString(stdout, b.String())
	return err
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

// buildVersion is the version set at build time, else the module's
// ("(devel)" for a build from a checkout), else "dev". It is also the
// XEP-0092 version.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

// buildCommit is the VCS commit set at build time, else the one the Go
// toolchain stamped (with "-dirty" for uncommitted changes), else
// "unknown" (built with -buildvcs=false, or outside a checkout).
func buildCommit() string {
	if commit != "" {
		return commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// versionLine is what --version prints: one line, so scripts can keep it
// whole (cmd/bench puts it in its report).
func versionLine() string {
	return fmt.Sprintf("http-auth %s (commit %s, %s %s/%s)", buildVersion(), buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
