// Package prosodytest runs a throwaway Prosody XMPP server for end-to-end
// tests and for the demo: one server per call, in its own folder, on its own
// free loopback ports, with a client port (RFC 6120 c2s; no TLS unless
// Options.TLS) and an external component port (XEP-0114) for the gateway.
//
// The server runs in the foreground (prosody -F) as a child of the test
// process, so it is stopped by PID and dies with the test binary. Several
// packages may run their own servers at the same time.
//
// A Server is not safe for concurrent use: drive its lifecycle (Start, Stop,
// Kill, Pause, Resume) from one goroutine. Its address fields never change
// after the first start, so they may be read from anywhere.
package prosodytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/servertest"
)

// Timeouts for starting and stopping the server.
const (
	startTimeout = 10 * time.Second
	stopTimeout  = 10 * time.Second
	pollInterval = 5 * time.Millisecond
	// portAttempts bounds retries when another process grabs one of the
	// free ports between our probe and Prosody's bind.
	portAttempts = 3
)

// Options configure a server. The zero value is a usable configuration.
type Options struct {
	// Domain is the VirtualHost users live on. Default "localhost".
	Domain string
	// ComponentDomain is the XEP-0114 component's domain. Default
	// "auth.localhost".
	ComponentDomain string
	// Secret is the component's shared secret. Default: random.
	Secret string
	// Users maps user names (local parts) to passwords; they are registered
	// on Domain before Start returns.
	Users map[string]string
	// GenerationalGC sets gc = { mode = "generational" }, which benchmarks
	// want: Prosody's stock incremental GC costs about a third of its CPU
	// under a confirm load.
	GenerationalGC bool
	// ExtraComponents are more XEP-0114 component domains, each with the
	// same Secret, served on the same component port. Prosody takes one
	// connection per component domain, so a benchmark can keep a bare
	// component of its own connected (to measure the server alone) while
	// the gateway holds ComponentDomain.
	ExtraComponents []string
	// TLS generates a self-signed certificate for Domain (DIR/certs/
	// DOMAIN.crt and DOMAIN.key, made once, kept across restarts) and
	// gives it to the VirtualHost: the client port then offers STARTTLS
	// (not required: Dial's plain logins still work). The certificate is
	// trusted by nobody; clients must skip verification or trust CertFile.
	TLS bool
	// LogLevel is the minimum level written to prosody.log: "info"
	// (default) or "debug". (Start reads the info lines to know when the
	// ports are Prosody's.) Debug logging slows Prosody down a lot; keep it
	// out of benchmarks.
	LogLevel string
}

// Server is a running (or stopped) Prosody. The exported fields are set by
// Start and stay the same across restarts.
type Server struct {
	// C2SAddr is the client port, "127.0.0.1:PORT".
	C2SAddr string
	// ComponentAddr is the XEP-0114 component port, "127.0.0.1:PORT".
	ComponentAddr string
	// Domain, ComponentDomain and Secret are the resolved Options.
	Domain          string
	ComponentDomain string
	Secret          string
	// Dir holds the configuration, data, pidfile and logs.
	Dir string
	// CertFile is the VirtualHost's self-signed certificate (PEM) when
	// Options.TLS is set, else "".
	CertFile string

	opts    Options
	tb      testing.TB // nil for StartDemo: errors are returned, not fatal
	cfgPath string
	logPath string
	outPath string // Prosody's stdout and stderr (startup errors)

	cmd    *exec.Cmd
	done   <-chan struct{} // closed when cmd has been waited for
	paused bool
}

// Start starts a Prosody in t.TempDir(), registers opts.Users, and waits until
// both ports accept connections. It fails the test if Prosody is not
// installed or does not come up within 10 s, and stops the server in
// t.Cleanup. Call it from the test goroutine.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := newServer(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	s.tb = t
	// Registered before the first start so that a failed start still
	// cleans up whatever half-started process there is.
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
	if err := s.firstStart(); err != nil {
		t.Fatal(err)
	}
	return s
}

// StartDemo is Start for programs: it runs the server in dir (created if
// needed) and returns errors instead of failing a test. The caller must call
// Stop.
func StartDemo(dir string, opts Options) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("prosodytest: %w", err)
	}
	s, err := newServer(dir, opts)
	if err != nil {
		return nil, err
	}
	if err := s.firstStart(); err != nil {
		_ = s.stop()
		return nil, err
	}
	return s, nil
}

func newServer(dir string, opts Options) (*Server, error) {
	if _, err := exec.LookPath("prosody"); err != nil {
		return nil, errors.New("prosodytest: prosody is not installed: run `make deps`")
	}
	if _, err := exec.LookPath("prosodyctl"); err != nil {
		return nil, errors.New("prosodytest: prosodyctl is not installed: run `make deps`")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("prosodytest: %w", err)
	}
	if err := servertest.Defaults(&opts.Domain, &opts.ComponentDomain, &opts.Secret, &opts.LogLevel); err != nil {
		return nil, fmt.Errorf("prosodytest: %w", err)
	}
	s := &Server{
		Domain:          opts.Domain,
		ComponentDomain: opts.ComponentDomain,
		Secret:          opts.Secret,
		Dir:             abs,
		opts:            opts,
		cfgPath:         filepath.Join(abs, "prosody.cfg.lua"),
		logPath:         filepath.Join(abs, "prosody.log"),
		outPath:         filepath.Join(abs, "prosody.out"),
	}
	for _, sub := range []string{"data", "certs"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o700); err != nil {
			return nil, fmt.Errorf("prosodytest: %w", err)
		}
	}
	if opts.TLS {
		if err := s.writeCertificate(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// writeCertificate makes the self-signed certificate of Options.TLS,
// unless an earlier run in the same folder made it.
func (s *Server) writeCertificate() error {
	s.CertFile = filepath.Join(s.Dir, "certs", s.Domain+".crt")
	keyFile := filepath.Join(s.Dir, "certs", s.Domain+".key")
	if servertest.FileSize(s.CertFile) > 0 && servertest.FileSize(keyFile) > 0 {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("prosodytest: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return fmt.Errorf("prosodytest: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.Domain},
		DNSNames:              []string{s.Domain},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("prosodytest: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("prosodytest: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("prosodytest: %w", err)
	}
	if err := os.WriteFile(s.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("prosodytest: %w", err)
	}
	return nil
}

// firstStart picks free ports, writes the configuration, and starts Prosody
// while the users are being registered. If a port was taken between the probe
// and Prosody's bind, it tries again with new ports.
func (s *Server) firstStart() error {
	return servertest.RetryOnPortTaken(portAttempts, func() error {
		if err := s.pickPorts(); err != nil {
			return err
		}
		if err := s.writeConfig(); err != nil {
			return err
		}
		regErr := make(chan error, 1)
		go func() { regErr <- s.registerUsers(s.opts.Users) }()
		err := s.launch()
		if rerr := <-regErr; rerr != nil && err == nil {
			return rerr
		}
		return err
	}, func() { _ = s.stop() })
}

// Start starts a stopped server again on the same ports, with the same data.
// In a test it fails the test on error; from StartDemo it returns the error.
func (s *Server) Start() error {
	if s.tb != nil {
		s.tb.Helper()
	}
	return s.check(s.launch())
}

// Stop sends SIGTERM and waits for Prosody to exit, sending SIGKILL after
// 10 s. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	if s.tb != nil {
		s.tb.Helper()
	}
	return s.check(s.stop())
}

// Kill sends SIGKILL and waits for the process to be gone: no stream closes,
// no goodbyes, like a crash or a power cut.
func (s *Server) Kill() error {
	if s.tb != nil {
		s.tb.Helper()
	}
	if !s.running() {
		return nil
	}
	err := s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.paused = false
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return s.check(fmt.Errorf("prosodytest: kill: %w", err))
	}
	return nil
}

// Pause freezes Prosody with SIGSTOP: its sockets stay open but nothing is
// read or answered, like a hung server.
func (s *Server) Pause() error {
	if s.tb != nil {
		s.tb.Helper()
	}
	return s.check(s.signal(syscall.SIGSTOP, true))
}

// Resume continues a paused Prosody with SIGCONT.
func (s *Server) Resume() error {
	if s.tb != nil {
		s.tb.Helper()
	}
	return s.check(s.signal(syscall.SIGCONT, false))
}

// Register adds (or resets the password of) user@Domain. It works whether
// the server runs or not.
func (s *Server) Register(user, pass string) error {
	if s.tb != nil {
		s.tb.Helper()
	}
	return s.check(s.registerUsers(map[string]string{user: pass}))
}

// PID returns the process id of the running Prosody, or 0.
func (s *Server) PID() int {
	if !s.running() {
		return 0
	}
	return s.cmd.Process.Pid
}

// Client returns C2SAddr and Domain, and Component returns ComponentAddr,
// ComponentDomain and Secret: the fields as methods, for code that takes
// either test server (this one or its ejabberdtest twin) through an interface.
func (s *Server) Client() (addr, domain string) { return s.C2SAddr, s.Domain }

// Component: see Client.
func (s *Server) Component() (addr, domain, secret string) {
	return s.ComponentAddr, s.ComponentDomain, s.Secret
}

// LogTail returns the last lines of Prosody's log and console output, for
// failure messages.
func (s *Server) LogTail() string {
	return servertest.LogTail(s.logPath, s.outPath, "prosody")
}

func (s *Server) check(err error) error {
	if err != nil && s.tb != nil {
		s.tb.Helper()
		s.tb.Fatal(err)
	}
	return err
}

func (s *Server) running() bool { return servertest.Running(s.done) }

func (s *Server) signal(sig syscall.Signal, paused bool) error {
	if !s.running() {
		return fmt.Errorf("prosodytest: %v: server is not running", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("prosodytest: %v: %w", sig, err)
	}
	s.paused = paused
	return nil
}

func (s *Server) stop() error {
	if !s.running() {
		return nil
	}
	p := s.cmd.Process
	killed := servertest.Terminate(func(sig syscall.Signal) error { return p.Signal(sig) }, s.done, s.paused, stopTimeout)
	s.paused = false
	if !killed {
		return nil
	}
	return fmt.Errorf("prosodytest: Prosody ignored SIGTERM for %v and was killed\n%s", stopTimeout, s.LogTail())
}

// launch starts the process and waits for both ports.
func (s *Server) launch() error {
	if s.running() {
		return errors.New("prosodytest: start: server is already running")
	}
	out, err := os.OpenFile(s.outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("prosodytest: %w", err)
	}
	defer out.Close() // the child has its own copy
	logStart := servertest.FileSize(s.logPath)

	cmd := exec.Command("prosody", "-F", "--config", s.cfgPath)
	cmd.Dir = s.Dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a Ctrl-C in the demo's terminal is for the
		// demo, which then stops the server itself.
		Setpgid: true,
		// Die with the test binary even if it is killed (go test -timeout).
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("prosodytest: start prosody: %w", err)
	}
	s.cmd = cmd
	s.paused = false
	done := servertest.Watch(cmd, nil)
	s.done = done

	// A port that accepts connections might belong to someone else (a
	// port taken between pickPorts and Prosody's bind): the server is up
	// when its log says it listens on both ports, and they accept.
	deadline := time.Now().Add(startTimeout)
	want := [][]byte{
		fmt.Appendf(nil, "Activated service 'c2s' on [127.0.0.1]:%s\n", servertest.Port(s.C2SAddr)),
		fmt.Appendf(nil, "Activated service 'component' on [127.0.0.1]:%s\n", servertest.Port(s.ComponentAddr)),
	}
	for {
		log := servertest.ReadFrom(s.logPath, logStart)
		if bytes.Contains(log, []byte("Failed to open server port")) {
			// Prosody keeps running when it cannot bind a port.
			return fmt.Errorf("prosodytest: %w\n%s", servertest.ErrPortTaken, s.LogTail())
		}
		if servertest.Listening(log, want, s.C2SAddr, s.ComponentAddr) {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("prosodytest: prosody exited during start (%v)\n%s", cmd.ProcessState, s.LogTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prosodytest: not listening on %s and %s after %v\n%s", s.C2SAddr, s.ComponentAddr, startTimeout, s.LogTail())
		}
		time.Sleep(pollInterval)
	}
}

func (s *Server) pickPorts() error {
	addrs, err := servertest.FreeAddrs(2)
	if err != nil {
		return fmt.Errorf("prosodytest: %w", err)
	}
	s.C2SAddr, s.ComponentAddr = addrs[0], addrs[1]
	return nil
}

func (s *Server) writeConfig() error {
	c2sPort, compPort := servertest.Port(s.C2SAddr), servertest.Port(s.ComponentAddr)
	var b strings.Builder
	// Lua long strings would be nicer, but %q of Go matches Lua's quoted
	// string syntax for the plain ASCII values used here; reject the rest.
	for _, v := range append([]string{s.Dir, s.Domain, s.ComponentDomain, s.Secret}, s.opts.ExtraComponents...) {
		if !luaSafe(v) {
			return fmt.Errorf("prosodytest: value %q cannot be written to the Lua config", v)
		}
	}
	tlsModule := "" // mod_tls offers STARTTLS
	if s.CertFile != "" {
		tlsModule = `; "tls"`
	}
	fmt.Fprintf(&b, `-- Written by internal/prosodytest: a throwaway test server.
run_as_root = true
data_path = %q
pidfile = %q
log = { { levels = { min = %q }, to = "file", filename = %q } }
certificates = %q
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "posix"%s }
modules_disabled = { "s2s"; "offline" }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
component_interfaces = { "127.0.0.1" }
c2s_ports = { %s }
component_ports = { %s }
-- Shutdown otherwise waits a fixed 1 s for sockets that closed late.
network_settings = { shutdown_deadline = 0.2 }
`, filepath.Join(s.Dir, "data"), filepath.Join(s.Dir, "prosody.pid"), s.opts.LogLevel, s.logPath,
		filepath.Join(s.Dir, "certs"), tlsModule, c2sPort, compPort)
	if s.opts.GenerationalGC {
		b.WriteString("gc = { mode = \"generational\" }\n")
	}
	fmt.Fprintf(&b, "\nVirtualHost %q\n", s.Domain)
	if s.CertFile != "" {
		fmt.Fprintf(&b, "\tssl = { certificate = %q, key = %q }\n", s.CertFile, strings.TrimSuffix(s.CertFile, ".crt")+".key")
	}
	fmt.Fprintf(&b, "\nComponent %q\n\tcomponent_secret = %q\n", s.ComponentDomain, s.Secret)
	for _, d := range s.opts.ExtraComponents {
		fmt.Fprintf(&b, "\nComponent %q\n\tcomponent_secret = %q\n", d, s.Secret)
	}
	if err := os.WriteFile(s.cfgPath, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("prosodytest: %w", err)
	}
	return nil
}

func luaSafe(v string) bool {
	for _, r := range v {
		if r < 0x20 || r > 0x7e || r == '\\' || r == '"' {
			return false
		}
	}
	return true
}

// registerUsers runs one prosodyctl per user, all at once: each costs a Lua
// start (~0.1 s) and they write separate account files.
func (s *Server) registerUsers(users map[string]string) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(users))
	for user, pass := range users {
		wg.Go(func() {
			cmd := exec.Command("prosodyctl", "--config", s.cfgPath, "register", user, s.Domain, pass)
			cmd.Dir = s.Dir
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("prosodytest: register %s@%s: %w: %s", user, s.Domain, err, bytes.TrimSpace(out))
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
