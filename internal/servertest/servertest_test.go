package servertest

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRetryOnPortTaken(t *testing.T) {
	other := errors.New("config")
	taken := fmt.Errorf("x: %w", ErrPortTaken)
	for _, tc := range []struct {
		name         string
		results      []error // what start returns, call after call
		want         error
		calls, clean int
	}{
		{"first try", []error{nil}, nil, 1, 0},
		{"taken then up", []error{taken, taken, nil}, nil, 3, 2},
		{"other error", []error{taken, other}, other, 2, 1},
		{"always taken", []error{taken, taken, taken}, taken, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, clean := 0, 0
			err := RetryOnPortTaken(3, func() error {
				calls++
				return tc.results[calls-1]
			}, func() { clean++ })
			if err != tc.want || calls != tc.calls || clean != tc.clean {
				t.Errorf("err %v, %d calls, %d cleanups; want %v, %d, %d", err, calls, clean, tc.want, tc.calls, tc.clean)
			}
		})
	}
}

func TestFreeAddrs(t *testing.T) {
	addrs, err := FreeAddrs(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 3 {
		t.Fatalf("got %d addresses: %v", len(addrs), addrs)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" || seen[port] {
			t.Fatalf("address %q in %v: want distinct 127.0.0.1:PORT (%v)", a, addrs, err)
		}
		seen[port] = true
		if n, err := strconv.Atoi(port); err != nil || n <= 0 {
			t.Errorf("port %q", port)
		}
		// Free: the listeners are closed.
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s is not free: %v", a, err)
			continue
		}
		_ = l.Close()
	}
}

func TestPort(t *testing.T) {
	for addr, want := range map[string]string{"127.0.0.1:5222": "5222", "[::1]:80": "80", "no port": ""} {
		if got := Port(addr); got != want {
			t.Errorf("Port(%q) = %q, want %q", addr, got, want)
		}
	}
}

// listen returns the address of a listener that lasts as long as the test,
// and one that accepts nothing.
func listen(t *testing.T) (open, closed string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	c, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	return l.Addr().String(), c.Addr().String()
}

func TestCanDialAndListening(t *testing.T) {
	open, closed := listen(t)
	if !CanDial(open) {
		t.Errorf("CanDial(%s) = false for a listener", open)
	}
	if CanDial(closed) {
		t.Errorf("CanDial(%s) = true for a closed port", closed)
	}
	log := []byte("x\nlistening on c2s\nlistening on component\n")
	lines := [][]byte{[]byte("on c2s\n"), []byte("on component\n")}
	for _, tc := range []struct {
		name  string
		lines [][]byte
		addrs []string
		want  bool
	}{
		{"all there", lines, []string{open, open}, true},
		{"nothing to check", nil, nil, true},
		{"line missing", append(lines, []byte("on s2s\n")), []string{open}, false},
		{"port closed", lines, []string{open, closed}, false},
	} {
		if got := Listening(log, tc.lines, tc.addrs...); got != tc.want {
			t.Errorf("%s: Listening = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	var domain, comp, secret, level string
	if err := Defaults(&domain, &comp, &secret, &level); err != nil {
		t.Fatal(err)
	}
	if domain != "localhost" || comp != "auth.localhost" || level != "info" {
		t.Errorf("defaults %q %q %q", domain, comp, level)
	}
	if b, err := hex.DecodeString(secret); err != nil || len(b) != 16 {
		t.Errorf("secret %q: want 32 hex digits", secret)
	}

	domain, comp, secret, level = "example.test", "gw.example.test", "s3cret", "debug"
	if err := Defaults(&domain, &comp, &secret, &level); err != nil {
		t.Fatal(err)
	}
	if domain != "example.test" || comp != "gw.example.test" || secret != "s3cret" || level != "debug" {
		t.Errorf("values changed: %q %q %q %q", domain, comp, secret, level)
	}

	level = "warn"
	if err := Defaults(&domain, &comp, &secret, &level); err == nil || err.Error() != `LogLevel "warn": want info or debug` {
		t.Errorf("err = %v", err)
	}
}

func TestRandomHex(t *testing.T) {
	a, b := RandomHex(6), RandomHex(6)
	if len(a) != 12 || a == b {
		t.Errorf("RandomHex(6) = %q, then %q", a, b)
	}
	if _, err := hex.DecodeString(a); err != nil {
		t.Error(err)
	}
}

// child starts a shell script that dies with the test, and returns it once
// the script has printed its first line.
func child(t *testing.T, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal(err)
	}
	return cmd
}

func TestWatchRunningWaitExit(t *testing.T) {
	if Running(nil) {
		t.Error("Running(nil) = true")
	}
	cmd := child(t, "echo up; exec sleep 30")
	after := false
	done := Watch(cmd, func() { after = true })
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	if !Running(done) {
		t.Fatal("Running = false for a sleeping process")
	}
	if WaitExit(done, 20*time.Millisecond) {
		t.Fatal("WaitExit = true for a sleeping process")
	}
	_ = cmd.Process.Kill()
	if !WaitExit(done, 5*time.Second) {
		t.Fatal("WaitExit = false for a killed process")
	}
	if Running(done) || !after {
		t.Errorf("after exit: Running = %v, after ran = %v", Running(done), after)
	}
}

// stopped waits until pid is in the stopped state.
func stopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'T' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped: %s", pid, stat)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTerminate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		pause  bool // SIGSTOP it first
		paused bool // what Terminate is told
		killed bool
	}{
		{"exits on SIGTERM", "echo up; exec sleep 30", false, false, false},
		{"ignores SIGTERM", `trap "" TERM; echo up; exec sleep 30`, false, false, true},
		{"paused", "echo up; exec sleep 30", true, true, false},
		// Without SIGCONT, a stopped process never acts on SIGTERM.
		{"paused, not told", "echo up; exec sleep 30", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := child(t, tc.script)
			done := Watch(cmd, nil)
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
			if tc.pause {
				if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				stopped(t, cmd.Process.Pid)
			}
			var sent []syscall.Signal
			signal := func(sig syscall.Signal) error {
				sent = append(sent, sig)
				return cmd.Process.Signal(sig)
			}
			killed := Terminate(signal, done, tc.paused, 300*time.Millisecond)
			if killed != tc.killed || Running(done) {
				t.Errorf("killed = %v, running = %v; want killed = %v (signals %v)", killed, Running(done), tc.killed, sent)
			}
			want := []syscall.Signal{syscall.SIGTERM}
			if tc.paused {
				want = append(want, syscall.SIGCONT)
			}
			if tc.killed {
				want = append(want, syscall.SIGKILL)
			}
			if fmt.Sprint(sent) != fmt.Sprint(want) {
				t.Errorf("signals %v, want %v", sent, want)
			}
		})
	}
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFileSizeReadFrom(t *testing.T) {
	path := write(t, "x.log", "before\nafter\n")
	missing := filepath.Join(t.TempDir(), "missing.log")
	if got := FileSize(path); got != 13 {
		t.Errorf("FileSize = %d, want 13", got)
	}
	if got := FileSize(missing); got != 0 {
		t.Errorf("FileSize of a missing file = %d", got)
	}
	if got := string(ReadFrom(path, 7)); got != "after\n" {
		t.Errorf("ReadFrom(7) = %q", got)
	}
	if got := ReadFrom(path, 100); len(got) != 0 {
		t.Errorf("ReadFrom past the end = %q", got)
	}
	if got := ReadFrom(missing, 0); got != nil {
		t.Errorf("ReadFrom of a missing file = %q", got)
	}
}

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		lines         int
		want          string
	}{
		{"empty", "", 3, ""},
		{"only newlines", "\n\n", 3, ""},
		{"fewer lines", "a\nb\n", 3, "a\nb\n"},
		{"more lines", "a\nb\nc\nd\n", 2, "c\nd\n"},
		{"exactly", "a\nb\n", 2, "a\nb\n"},
		{"no final newline", "a\nb\nc", 2, "b\nc\n"},
		{"trailing blank lines", "a\nb\nc\n\n\n", 2, "b\nc\n"},
	} {
		if got := Tail(write(t, "x.log", tc.content), tc.lines); got != tc.want {
			t.Errorf("%s: Tail = %q, want %q", tc.name, got, tc.want)
		}
	}
	got := Tail(filepath.Join(t.TempDir(), "missing.log"), 3)
	if !strings.HasPrefix(got, "(missing.log: ") || !strings.HasSuffix(got, ")\n") {
		t.Errorf("Tail of a missing file = %q", got)
	}
}

func TestLogTail(t *testing.T) {
	var long strings.Builder
	for i := range 50 {
		fmt.Fprintf(&long, "log %d\n", i)
	}
	log := write(t, "server.log", long.String())
	wantLog := strings.Join(strings.SplitAfter(long.String(), "\n")[10:50], "")
	for _, tc := range []struct {
		name, console, want string
	}{
		{"quiet console", " \n\n", wantLog},
		{"console", "boot error\n", wantLog + "--- prog stdout/stderr ---\nboot error\n"},
	} {
		if got := LogTail(log, write(t, "out", tc.console), "prog"); got != tc.want {
			t.Errorf("%s: LogTail =\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
	if got := LogTail(log, filepath.Join(t.TempDir(), "none"), "prog"); !strings.HasPrefix(got, wantLog+"--- prog stdout/stderr ---\n(none: ") {
		t.Errorf("missing console: LogTail = %q", got)
	}
}

func TestFreePort(t *testing.T) {
	p, err := FreePort()
	if err != nil || p <= 0 || p > 65535 {
		t.Fatalf("FreePort() = %d, %v", p, err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("the port was not free: %v", err)
	}
	l.Close()
}
