// Package ejabberdtest runs a throwaway ejabberd XMPP server for end-to-end
// tests and for the demo: one server per call, in its own folder, on its own
// free loopback ports, with a client port (RFC 6120 c2s, no TLS) and an
// external component port (XEP-0114, ejabberd_service) for the gateway. It
// mirrors internal/prosodytest.
//
// The server runs in the foreground (ejabberdctl --config-dir DIR
// foreground-quiet) as the ejabberd user, from a configuration of its own:
// Debian's /etc/ejabberd/ejabberdctl.cfg is never read. Each server is its
// own Erlang node (a unique ejabberdNNN@localhost) that listens for Erlang
// distribution on a free loopback port of its own (ejabberdctl's
// ERL_DIST_PORT), so no epmd is started or needed, and several servers
// (several test packages, several runs) can run at the same time.
//
// The process tree is: the test process, ejabberdctl (bash, run as the
// ejabberd user directly rather than through its su), the Erlang VM
// (beam.smp). Signals go to the VM; ejabberdctl exits when the VM does. The
// VM's standard input is a pipe from the test process, read by a few lines
// of Erlang given on the command line: a byte on it stops ejabberd (Stop, in
// tens of milliseconds where SIGTERM takes over a second), and EOF halts
// the VM, so that it dies with the test binary even if that is killed
// (ejabberdctl gets SIGKILL then, through Pdeathsig).
//
// Users are registered through ejabberd_auth on the running node, by one
// hidden Erlang node for all of them (about 0.3 s, where `ejabberdctl
// register` costs as much per user), so Register needs a running server.
//
// Must run as root (the server then runs as the ejabberd user, which owns the
// folder) or as the ejabberd user: ejabberdctl refuses anybody else.
//
// A Server is not safe for concurrent use: drive its lifecycle (Start, Stop,
// Kill, Pause, Resume, Register) from one goroutine. Its address fields never
// change after the first start, so they may be read from anywhere.
package ejabberdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/servertest"
	"github.com/xmpp-http-auth/http-auth/internal/xmpptest"
)

// Timeouts for starting and stopping the server.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	// gracefulStopWait bounds the wait for the watchdog's stop before
	// SIGTERM.
	gracefulStopWait = 5 * time.Second
	registerTimeout  = 20 * time.Second
	loginTimeout     = 5 * time.Second
	pollInterval     = 10 * time.Millisecond
	// portAttempts bounds retries when another process grabs one of the
	// free ports between our probe and ejabberd's bind.
	portAttempts = 3
	// runUser is the account Debian's ejabberdctl runs the server as.
	runUser = "ejabberd"
)

// Where to look for the programs: PATH first, then Debian's locations (root's
// PATH has /usr/sbin, other users' may not). Tests replace them.
var (
	ejabberdctlPaths = []string{"ejabberdctl", "/usr/sbin/ejabberdctl"}
	erlPaths         = []string{"erl", "/usr/bin/erl"}
)

// errNotInstalled is what every entry point says when the package is missing.
const errNotInstalled = "ejabberdtest: ejabberd is not installed: run `make deps-ejabberd`"

// Options configure a server. The zero value is a usable configuration.
type Options struct {
	// Domain is the virtual host users live on. Default "localhost".
	Domain string
	// ComponentDomain is the XEP-0114 component's domain. Default
	// "auth.localhost".
	ComponentDomain string
	// Secret is the component's shared secret. Default: random.
	Secret string
	// Users maps user names (local parts) to passwords; they are registered
	// on Domain before Start returns.
	Users map[string]string
	// ExtraComponents are more XEP-0114 component domains, each with the
	// same Secret, served on the same component port (as in prosodytest).
	ExtraComponents []string
	// LogLevel is ejabberd's loglevel: "info" (default) or "debug" (every
	// stanza is logged; slow). Start reads info lines to know when the
	// ports are ejabberd's.
	LogLevel string
}

// Server is a running (or stopped) ejabberd. The exported fields are set by
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
	// Dir holds the configuration, the Mnesia database (spool/) and the
	// logs (logs/).
	Dir string
	// Node is the Erlang node name, "ejabberdNNN@localhost".
	Node string

	opts     Options
	tb       testing.TB // nil for StartDemo: errors are returned, not fatal
	ctl      string     // ejabberdctl
	erl      string
	cred     *syscall.Credential // nil when we are the ejabberd user already
	cookie   string
	distAddr string // Erlang distribution port, "127.0.0.1:PORT"
	logPath  string
	outPath  string // ejabberdctl's stdout and stderr (VM boot errors)

	cmd    *exec.Cmd
	beam   int             // PID of the Erlang VM, a child of cmd
	stdin  *os.File        // the VM's watchdog pipe; closing it halts the VM
	done   <-chan struct{} // closed when cmd has been waited for
	paused bool
}

// Start starts an ejabberd in a temporary folder, registers opts.Users, and
// waits until both ports accept connections and a user can log in. It fails
// the test if ejabberd is not installed or does not come up within 30 s, and
// stops the server and removes the folder in t.Cleanup. Call it from the
// test goroutine.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	// Not t.TempDir(): its parent folder is mode 0700 and root's, and the
	// ejabberd user must be able to reach the folder.
	dir, err := os.MkdirTemp("", "ejabberdtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	s, err := newServer(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.tb = t
	// Registered before the first start (and after RemoveAll, so it runs
	// first) so that a failed start still stops a half-started server.
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
// needed; the ejabberd user must be able to reach it) and returns errors
// instead of failing a test. The caller must call Stop.
func StartDemo(dir string, opts Options) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ejabberdtest: %w", err)
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

func lookPath(candidates []string) string {
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

func newServer(dir string, opts Options) (*Server, error) {
	ctl, erl := lookPath(ejabberdctlPaths), lookPath(erlPaths)
	if ctl == "" || erl == "" {
		return nil, errors.New(errNotInstalled)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("ejabberdtest: %w", err)
	}
	if !shellSafe(abs) {
		// The folder goes into ejabberdctl.cfg (sourced by bash) and onto
		// the Erlang command line unquoted.
		return nil, fmt.Errorf("ejabberdtest: folder %q: only letters, digits and / . _ + - are allowed", abs)
	}
	if err := servertest.Defaults(&opts.Domain, &opts.ComponentDomain, &opts.Secret, &opts.LogLevel); err != nil {
		return nil, fmt.Errorf("ejabberdtest: %w", err)
	}
	s := &Server{
		Domain:          opts.Domain,
		ComponentDomain: opts.ComponentDomain,
		Secret:          opts.Secret,
		Dir:             abs,
		Node:            "ejabberd" + servertest.RandomHex(6) + "@localhost",
		opts:            opts,
		ctl:             ctl,
		erl:             erl,
		cookie:          servertest.RandomHex(16),
		logPath:         filepath.Join(abs, "logs", "ejabberd.log"),
		outPath:         filepath.Join(abs, "ejabberd.out"),
	}
	if err := s.setUser(); err != nil {
		return nil, err
	}
	for _, sub := range []string{"spool", "logs"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o700); err != nil {
			return nil, fmt.Errorf("ejabberdtest: %w", err)
		}
	}
	return s, nil
}

// setUser decides who runs ejabberd: as root, the ejabberd user (as
// ejabberdctl would, without its su, which starts a new session and would
// keep the VM out of our reach); as the ejabberd user, ourselves.
func (s *Server) setUser() error {
	u, err := user.Lookup(runUser)
	if err != nil {
		return fmt.Errorf("ejabberdtest: user %s: %w (is ejabberd installed? run `make deps-ejabberd`)", runUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("ejabberdtest: user %s: %w", runUser, err)
	}
	switch os.Geteuid() {
	case int(uid):
		return nil
	case 0:
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		return nil
	default:
		return fmt.Errorf("ejabberdtest: run the tests as root or as the %s user: ejabberdctl refuses everybody else", runUser)
	}
}

// firstStart picks free ports, writes the configuration, starts ejabberd,
// registers the users and checks that one can log in. If a port was taken
// between the probe and ejabberd's bind, it tries again with new ports.
func (s *Server) firstStart() error {
	err := servertest.RetryOnPortTaken(portAttempts, func() error {
		if err := s.pickPorts(); err != nil {
			return err
		}
		if err := s.writeConfig(); err != nil {
			return err
		}
		return s.launch()
	}, func() { _ = s.stop() })
	if err != nil {
		return err
	}
	if err := s.registerUsers(s.opts.Users); err != nil {
		return err
	}
	return s.checkLogin()
}

// Start starts a stopped server again on the same ports, with the same data
// (users included). In a test it fails the test on error; from StartDemo it
// returns the error.
func (s *Server) Start() error {
	if s.tb != nil {
		s.tb.Helper()
	}
	err := s.launch()
	if err == nil {
		err = s.checkLogin()
	}
	return s.check(err)
}

// Stop stops ejabberd as SIGTERM would (its listeners and sessions close,
// Mnesia closes its files) and waits for the VM to exit, sending SIGTERM
// after 5 s and SIGKILL after 10 s more. Clients get a system-shutdown
// stream error; components see their connection closed without a stream
// error or close (as with SIGTERM or `ejabberdctl stop`). Stopping a stopped
// server does nothing.
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
	err := syscall.Kill(s.beam, syscall.SIGKILL)
	<-s.done
	s.paused = false
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return s.check(fmt.Errorf("ejabberdtest: kill: %w", err))
	}
	return nil
}

// Pause freezes the Erlang VM with SIGSTOP, and returns once all of its
// threads have stopped: its sockets stay open but nothing is read or
// answered, like a hung server.
func (s *Server) Pause() error {
	if s.tb != nil {
		s.tb.Helper()
	}
	return s.check(s.signal(syscall.SIGSTOP, true))
}

// Resume continues a paused VM with SIGCONT.
func (s *Server) Resume() error {
	if s.tb != nil {
		s.tb.Helper()
	}
	return s.check(s.signal(syscall.SIGCONT, false))
}

// Register adds user@Domain, or sets the password of an existing user.
// Unlike Prosody's, ejabberd's accounts live in the running node's database:
// the server must be running (and not paused).
func (s *Server) Register(user, pass string) error {
	if s.tb != nil {
		s.tb.Helper()
	}
	return s.check(s.registerUsers(map[string]string{user: pass}))
}

// PID returns the process id of the running Erlang VM, or 0.
func (s *Server) PID() int {
	if !s.running() {
		return 0
	}
	return s.beam
}

// Client returns C2SAddr and Domain, and Component returns ComponentAddr,
// ComponentDomain and Secret: the fields as methods, for code that takes
// either test server (this one or its prosodytest twin) through an interface.
func (s *Server) Client() (addr, domain string) { return s.C2SAddr, s.Domain }

// Component: see Client.
func (s *Server) Component() (addr, domain, secret string) {
	return s.ComponentAddr, s.ComponentDomain, s.Secret
}

// LogTail returns the last lines of ejabberd's log and console output, for
// failure messages.
func (s *Server) LogTail() string {
	return servertest.LogTail(s.logPath, s.outPath, "ejabberdctl")
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
		return fmt.Errorf("ejabberdtest: %v: server is not running", sig)
	}
	if err := syscall.Kill(s.beam, sig); err != nil {
		return fmt.Errorf("ejabberdtest: %v: %w", sig, err)
	}
	s.paused = paused
	if sig == syscall.SIGSTOP {
		return s.waitStopped()
	}
	return nil
}

// waitStopped waits until every thread of the VM has stopped: SIGSTOP is
// asynchronous, and a scheduler thread busy on another core could still
// answer a stanza sent right after Pause returns.
func (s *Server) waitStopped() error {
	deadline := time.Now().Add(stopTimeout)
	for !allStopped(s.beam) {
		if time.Now().After(deadline) {
			return fmt.Errorf("ejabberdtest: pause: the VM's threads are still running after %v", stopTimeout)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// allStopped reports whether every thread of pid is in the stopped state.
func allStopped(pid int) bool {
	taskDir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(taskDir)
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(filepath.Join(taskDir, task.Name(), "stat"))
		if err != nil {
			return false
		}
		// pid (comm) STATE ...
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' && stat[i+2] != 't' {
			return false
		}
	}
	return true
}

func (s *Server) stop() error {
	if !s.running() {
		return nil
	}
	// The watchdog's stop; SIGTERM if it does not act (the VM is still
	// booting, say); SIGKILL as a last resort.
	_, err := s.stdin.Write([]byte("stop\n"))
	if s.paused {
		// A stopped process only reads its input, or acts on SIGTERM,
		// once it runs again.
		_ = syscall.Kill(s.beam, syscall.SIGCONT)
		s.paused = false
	}
	if err == nil && servertest.WaitExit(s.done, gracefulStopWait) {
		return nil
	}
	if !servertest.Terminate(s.signalVM, s.done, false, stopTimeout) {
		return nil
	}
	return fmt.Errorf("ejabberdtest: ejabberd ignored SIGTERM for %v and was killed\n%s", stopTimeout, s.LogTail())
}

// signalVM sends sig to the Erlang VM.
// signalVM signals the Erlang VM. Before its PID is known there is
// nothing to signal: kill(0, ...) would hit this whole process group, the
// test binary included.
func (s *Server) signalVM(sig syscall.Signal) error {
	if s.beam <= 0 {
		return errors.New("ejabberdtest: the Erlang VM's PID is not known")
	}
	return syscall.Kill(s.beam, sig)
}

// env is the environment of ejabberdctl and erl: only what they need, so
// that nothing of the caller's (EJABBERDCTL_CONFIG_PATH, ERL_FLAGS, ...)
// changes which configuration is read. HOME is the folder: the VM writes no
// cookie anywhere else.
func (s *Server) env(extra ...string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return append([]string{"PATH=" + path, "HOME=" + s.Dir, "LANG=C.UTF-8"}, extra...)
}

// watchdog is the VM's end of its standard input, a pipe from the test
// process. At EOF (the test process is gone) the VM halts at once. A byte
// (from stop) stops ejabberd and Mnesia as SIGTERM would, then halts: the
// same closes and flushes, without init:stop's second or so of tearing down
// an idle runtime. erlexec splits ERL_ZFLAGS at white space: the expression
// has none.
const watchdog = "-eval spawn(fun()->P=open_port({fd,0,1},[eof]),(receive{P,eof}->halt(1);" +
	"{P,{data,_}}->application:stop(ejabberd),application:stop(mnesia),halt(0)end)end)"

// launch starts the server and waits for both ports.
func (s *Server) launch() error {
	if s.running() {
		return errors.New("ejabberdtest: start: server is already running")
	}
	out, err := os.OpenFile(s.outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("ejabberdtest: %w", err)
	}
	defer out.Close() // the child has its own copy
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("ejabberdtest: %w", err)
	}
	defer stdinR.Close() // likewise
	logStart := servertest.FileSize(s.logPath)

	// foreground-quiet is foreground with only critical messages on the
	// console: the log file has the rest.
	cmd := exec.Command(s.ctl, "--config-dir", s.Dir, "foreground-quiet")
	cmd.Dir = s.Dir
	cmd.Env = s.env("ERL_ZFLAGS=" + watchdog)
	cmd.Stdin = stdinR
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: s.cred,
		// Own process group: a Ctrl-C in the demo's terminal is for the
		// demo, which then stops the server itself.
		Setpgid: true,
		// ejabberdctl dies with the test binary; the VM follows through
		// the watchdog.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		_ = stdinW.Close()
		return fmt.Errorf("ejabberdtest: start ejabberdctl: %w", err)
	}
	if s.stdin != nil {
		_ = s.stdin.Close()
	}
	s.cmd, s.stdin, s.beam, s.paused = cmd, stdinW, 0, false
	done := servertest.Watch(cmd, func() { _ = stdinW.Close() })
	s.done = done

	// A port that accepts connections might belong to someone else (a
	// port taken between pickPorts and ejabberd's bind): the server is up
	// when its log says it listens on both ports, and they accept.
	deadline := time.Now().Add(startTimeout)
	want := [][]byte{
		fmt.Appendf(nil, "Start accepting TCP connections at %s for ejabberd_c2s\n", s.C2SAddr),
		fmt.Appendf(nil, "Start accepting TCP connections at %s for ejabberd_service\n", s.ComponentAddr),
	}
	for {
		if s.beam == 0 {
			s.beam = childBeam(cmd.Process.Pid)
		}
		log := servertest.ReadFrom(s.logPath, logStart)
		if s.beam != 0 && servertest.Listening(log, want, s.C2SAddr, s.ComponentAddr) {
			return nil
		}
		select {
		case <-done:
			err := fmt.Errorf("ejabberdtest: ejabberd exited during start (%v)\n%s", cmd.ProcessState, s.LogTail())
			if portTaken(log, servertest.ReadFrom(s.outPath, 0)) {
				err = fmt.Errorf("%w: %w", servertest.ErrPortTaken, err)
			}
			return err
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ejabberdtest: not listening on %s and %s after %v\n%s", s.C2SAddr, s.ComponentAddr, startTimeout, s.LogTail())
		}
		time.Sleep(pollInterval)
	}
}

// portTaken tells from the logs whether a start failed because a port was in
// use: a listener's (ejabberd stops) or the Erlang distribution's (the VM
// does not boot).
func portTaken(log, console []byte) bool {
	return bytes.Contains(log, []byte("eaddrinuse")) || bytes.Contains(console, []byte("eaddrinuse")) ||
		bytes.Contains(log, []byte("already in use")) || bytes.Contains(console, []byte("already in use"))
}

// childBeam finds the Erlang VM among the children of ejabberdctl: the
// process whose parent is pid and whose name is beam.smp (before erl's
// last exec it has another name). 0 if there is none yet.
func childBeam(pid int) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		open, close := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || close < open {
			continue
		}
		fields := strings.Fields(string(stat[close+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		if string(stat[open+1:close]) == "beam.smp" {
			return child
		}
	}
	return 0
}

func (s *Server) pickPorts() error {
	addrs, err := servertest.FreeAddrs(3)
	if err != nil {
		return fmt.Errorf("ejabberdtest: %w", err)
	}
	s.C2SAddr, s.ComponentAddr, s.distAddr = addrs[0], addrs[1], addrs[2]
	return nil
}

// writeConfig writes ejabberdctl.cfg (sourced by ejabberdctl), ejabberd.yml
// and inetrc, and gives the folder to the ejabberd user.
func (s *Server) writeConfig() error {
	var ctl strings.Builder
	// Every value here is shell-safe: the folder was checked, the rest is
	// ours (hex and numbers).
	fmt.Fprintf(&ctl, `# Written by internal/ejabberdtest: a throwaway test server.
# Sourced by ejabberdctl instead of /etc/ejabberd/ejabberdctl.cfg.
ERLANG_NODE=%s
# The node listens for Erlang distribution on this port and ejabberdctl's
# own nodes connect to it there: no epmd.
ERL_DIST_PORT=%s
SPOOL_DIR=%s
LOGS_DIR=%s
EJABBERD_CONFIG_PATH=%s
EJABBERD_PID_PATH=%s
EJABBERD_BYPASS_WARNINGS=true
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -setcookie %s -kernel inet_dist_use_interface {127,0,0,1}"
`, s.Node, servertest.Port(s.distAddr), filepath.Join(s.Dir, "spool"), filepath.Join(s.Dir, "logs"),
		filepath.Join(s.Dir, "ejabberd.yml"), filepath.Join(s.Dir, "ejabberd.pid"), s.cookie)

	// YAML is a superset of JSON: JSON strings are safe YAML scalars.
	q := func(v string) string {
		b, _ := json.Marshal(v) // a string always marshals
		return string(b)
	}
	var components strings.Builder
	for _, d := range append([]string{s.ComponentDomain}, s.opts.ExtraComponents...) {
		fmt.Fprintf(&components, "      %s:\n        password: %s\n", q(d), q(s.Secret))
	}
	var yml strings.Builder
	fmt.Fprintf(&yml, `# Written by internal/ejabberdtest: a throwaway test server.
hosts:
  - %s
loglevel: %s
log_rotate_count: 0
log_rotate_size: infinity
auth_method: [internal]
# No TLS on loopback: c2s offers no STARTTLS and SASL PLAIN in clear.
# No s2s listener, and no outgoing s2s either.
s2s_access: none
listen:
  -
    port: %s
    ip: "127.0.0.1"
    module: ejabberd_c2s
    # ejabberd's default backlog is 5: many logins at once would wait for
    # SYN retransmissions.
    backlog: 128
    starttls: false
    starttls_required: false
    max_stanza_size: 262144
    shaper: none
    access: all
  -
    port: %s
    ip: "127.0.0.1"
    module: ejabberd_service
    backlog: 128
    shaper_rule: none
    access: all
    hosts:
%sacl:
  admin:
    user: []
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
# Users cannot register in band; mod_offline is off (a message to an offline
# user bounces instead of being stored), and so is mod_block_strangers.
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
`, q(s.Domain), s.opts.LogLevel, servertest.Port(s.C2SAddr), servertest.Port(s.ComponentAddr), components.String())

	// Erlang's resolver: localhost (the node's host) from here, not DNS.
	inetrc := "{lookup,[\"file\",\"native\"]}.\n{host,{127,0,0,1},[\"localhost\"]}.\n"

	files := map[string]string{"ejabberdctl.cfg": ctl.String(), "ejabberd.yml": yml.String(), "inetrc": inetrc}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.Dir, name), []byte(content), 0o600); err != nil {
			return fmt.Errorf("ejabberdtest: %w", err)
		}
	}
	return s.chown()
}

// chown gives the folder and everything in it to the ejabberd user.
func (s *Server) chown() error {
	if s.cred == nil {
		return nil
	}
	uid, gid := int(s.cred.Uid), int(s.cred.Gid)
	err := filepath.WalkDir(s.Dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("ejabberdtest: %w", err)
	}
	return s.checkReachable()
}

// checkReachable makes sure that every folder above Dir lets the ejabberd
// user through (t.TempDir's, for one, does not).
func (s *Server) checkReachable() error {
	for dir := filepath.Dir(s.Dir); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("ejabberdtest: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		if ok {
			allowed := mode&0o001 != 0 ||
				st.Uid == s.cred.Uid && mode&0o100 != 0 ||
				st.Gid == s.cred.Gid && mode&0o010 != 0
			if !allowed {
				return fmt.Errorf("ejabberdtest: the %s user cannot reach %s: %s is mode %#o; use a folder it can reach (under /tmp, for one)", runUser, s.Dir, dir, mode)
			}
		}
		if dir == "/" || dir == "." {
			return nil
		}
	}
}

// registerUsers registers (or resets the password of) every user through
// one hidden Erlang node that calls ejabberd_auth on the server's node: one
// VM start (~0.3 s) for all, where `ejabberdctl register` costs one each.
// The names and passwords go as plain arguments, never into Erlang source.
func (s *Server) registerUsers(users map[string]string) error {
	if len(users) == 0 {
		return nil
	}
	if !s.running() {
		return errors.New("ejabberdtest: register: server is not running (ejabberd keeps its accounts in the running node)")
	}
	if s.paused {
		return errors.New("ejabberdtest: register: server is paused")
	}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	slices.Sort(names)
	args := []string{
		"-sname", "ejabberdtest" + servertest.RandomHex(6) + "@localhost", "-hidden", "-noinput",
		"-setcookie", s.cookie,
		"-kernel", "inet_dist_use_interface", "{127,0,0,1}",
		"-erl_epmd_port", servertest.Port(s.distAddr), "-start_epmd", "false", "-dist_listen", "false",
		"-eval", registerScript,
		"-extra", s.Node, s.Domain,
	}
	for _, u := range names {
		args = append(args, u, users[u])
	}
	ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.erl, args...)
	cmd.Dir = s.Dir
	cmd.Env = s.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ejabberdtest: register %s on %s: %w: %s", strings.Join(names, ", "), s.Domain, err, bytes.TrimSpace(out))
	}
	return nil
}

// registerScript reads NODE HOST USER PASS USER PASS ... and registers each
// user on NODE, setting the password of those that exist. It prints
// "USER: REASON" and exits 1 on the first failure.
const registerScript = `
[Node0, Host0 | Args] = init:get_plain_arguments(),
Node = list_to_atom(Node0),
B = fun(S) -> unicode:characters_to_binary(S) end,
Host = B(Host0),
Reg = fun Reg([U, P | Rest]) ->
        R = case rpc:call(Node, ejabberd_auth, try_register, [B(U), Host, B(P)]) of
            {error, exists} -> rpc:call(Node, ejabberd_auth, set_password, [B(U), Host, B(P)]);
            Other -> Other
        end,
        case R of
            ok -> Reg(Rest);
            Err -> io:format("~ts: ~p~n", [U, Err]), halt(1)
        end;
    Reg([]) -> halt(0)
end,
Reg(Args).
`

// checkLogin logs in as one of the users, if there are any: the server is
// ready for clients, and the accounts are there.
func (s *Server) checkLogin() error {
	if len(s.opts.Users) == 0 {
		return nil
	}
	names := make([]string, 0, len(s.opts.Users))
	for u := range s.opts.Users {
		names = append(names, u)
	}
	u := slices.Min(names)
	ctx, cancel := context.WithTimeout(context.Background(), loginTimeout)
	defer cancel()
	c, err := xmpptest.DialConfig(ctx, xmpptest.Config{
		Addr: s.C2SAddr, JID: u + "@" + s.Domain, Password: s.opts.Users[u], NoPresence: true,
	})
	if err != nil {
		return fmt.Errorf("ejabberdtest: test login as %s@%s: %w\n%s", u, s.Domain, err, s.LogTail())
	}
	return c.Close()
}

func shellSafe(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._+-", r)
		if !ok {
			return false
		}
	}
	return true
}
