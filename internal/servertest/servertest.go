// Package servertest holds what the throwaway XMPP servers of
// internal/prosodytest and internal/ejabberdtest have in common: free
// loopback ports and the retry when one is taken after all, the documented
// defaults of their Options, the child process's lifetime (watching it exit,
// SIGTERM then SIGKILL with a deadline), their log files (reading what a
// start added, the tail for failure messages), and test helpers that work
// with either server (see Server).
//
// It knows nothing of Prosody or ejabberd: what differs between them (how a
// server is configured, told to stop, found ready, or given users) stays in
// the harnesses.
package servertest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrPortTaken is a start that failed because one of the ports picked by
// FreeAddrs was taken in the meantime; RetryOnPortTaken tries again on it.
var ErrPortTaken = errors.New("port already in use")

// RetryOnPortTaken calls start up to attempts times: as long as start fails
// with an error that is ErrPortTaken, it calls cleanup (to stop what start
// left running) and tries again. It returns start's last error, or nil once
// start succeeds; any other error is returned at once, without cleanup.
func RetryOnPortTaken(attempts int, start func() error, cleanup func()) error {
	var err error
	for range attempts {
		if err = start(); err == nil || !errors.Is(err, ErrPortTaken) {
			return err
		}
		cleanup()
	}
	return err
}

// FreeAddrs returns n loopback addresses, "127.0.0.1:PORT", whose ports were
// free and differ from each other: it holds a listener on each at once, then
// closes them all. Another process may still take a port before the server
// binds it; see RetryOnPortTaken.
func FreeAddrs(n int) ([]string, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		addrs = append(addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Addr().(*net.TCPAddr).Port)))
	}
	return addrs, nil
}

// FreePort returns a loopback port that was free (FreeAddrs of one).
func FreePort() (int, error) {
	addrs, err := FreeAddrs(1)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(Port(addrs[0]))
}

// Port returns the port of addr ("host:port"), or "" if addr has none.
func Port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// CanDial reports whether addr accepts a TCP connection within 200 ms. The
// connection is closed at once.
func CanDial(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// Listening reports whether log holds every one of lines and every one of
// addrs accepts a connection: a port that accepts might belong to another
// process (one that took it between FreeAddrs and the server's bind), so a
// server is up once its own log says it listens, and the ports accept. It
// stops at the first check that fails.
func Listening(log []byte, lines [][]byte, addrs ...string) bool {
	for _, l := range lines {
		if !bytes.Contains(log, l) {
			return false
		}
	}
	for _, a := range addrs {
		if !CanDial(a) {
			return false
		}
	}
	return true
}

// Defaults fills in the defaults that the Options of both harnesses
// document: domain "localhost", componentDomain "auth.localhost", a random
// 128-bit hex secret, and log level "info". The log level must then be
// "info" or "debug".
func Defaults(domain, componentDomain, secret, logLevel *string) error {
	if *domain == "" {
		*domain = "localhost"
	}
	if *componentDomain == "" {
		*componentDomain = "auth.localhost"
	}
	if *secret == "" {
		*secret = RandomHex(16)
	}
	if *logLevel == "" {
		*logLevel = "info"
	}
	if *logLevel != "info" && *logLevel != "debug" {
		return fmt.Errorf("LogLevel %q: want info or debug", *logLevel)
	}
	return nil
}

// RandomHex returns n random bytes from crypto/rand, hex-encoded (2n
// characters).
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand doc)
	return hex.EncodeToString(b)
}

// Watch waits for cmd, which must have been started, in a goroutine of its
// own, and returns a channel that is closed once cmd has exited and then
// after, if not nil, has returned. Nothing else may call cmd.Wait.
func Watch(cmd *exec.Cmd, after func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		if after != nil {
			after()
		}
		close(done)
	}()
	return done
}

// Running reports whether the process whose done channel (from Watch) this
// is still runs; false for a nil channel, a process never started.
func Running(done <-chan struct{}) bool {
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// WaitExit waits up to d for done (from Watch) to close, and reports whether
// it did.
func WaitExit(done <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// Terminate sends SIGTERM through signal and waits up to timeout for done
// (from Watch) to close; if it does not, it sends SIGKILL and waits for done
// without limit. If paused, the process was stopped with SIGSTOP: SIGCONT
// follows SIGTERM, as a stopped process only acts on SIGTERM once it runs
// again. It reports whether the process had to be killed. Errors of signal
// are ignored: a process that is gone already closes done.
func Terminate(signal func(syscall.Signal) error, done <-chan struct{}, paused bool, timeout time.Duration) (killed bool) {
	_ = signal(syscall.SIGTERM)
	if paused {
		_ = signal(syscall.SIGCONT)
	}
	if WaitExit(done, timeout) {
		return false
	}
	_ = signal(syscall.SIGKILL)
	<-done
	return true
}

// FileSize returns the size of the file at path, or 0 if it cannot be
// stat'ed (it does not exist yet, say). Taken before a start, it is where
// ReadFrom finds what the start added to a log.
func FileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// ReadFrom returns the contents of the file at path from offset off on
// (at most 1 GiB), or nil if it cannot be read.
func ReadFrom(path string, off int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, off, 1<<30))
	if err != nil {
		return nil
	}
	return b
}

// Tail returns the last lines lines of the file at path, each ending in a
// newline ("" for an empty file), or a one-line note naming the file and the
// error when it cannot be read.
func Tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%s: %v)\n", filepath.Base(path), err)
	}
	b = bytes.TrimRight(b, "\n")
	for i, n := len(b)-1, 0; i >= 0; i-- {
		if b[i] == '\n' {
			n++
			if n == lines {
				b = b[i+1:]
				break
			}
		}
	}
	if len(b) == 0 {
		return ""
	}
	return string(b) + "\n"
}

// LogTail is the LogTail of both harnesses, for failure messages: the last
// 40 lines of the server's log at logPath and, when the console output at
// consolePath holds more than white space, its last 20 lines under a
// "--- NAME stdout/stderr ---" line, where NAME is consoleName (the program
// whose output it is).
func LogTail(logPath, consolePath, consoleName string) string {
	var b strings.Builder
	b.WriteString(Tail(logPath, 40))
	if out := Tail(consolePath, 20); strings.TrimSpace(out) != "" {
		b.WriteString("--- " + consoleName + " stdout/stderr ---\n")
		b.WriteString(out)
	}
	return b.String()
}
