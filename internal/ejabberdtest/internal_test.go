package ejabberdtest

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/servertest"
)

// A port taken between pickPorts and ejabberd's bind, a listener's or the
// Erlang distribution's, must be reported as ErrPortTaken, quickly, so that
// firstStart can pick others.
func TestLaunchDetectsTakenPort(t *testing.T) {
	for _, tc := range []struct {
		name string
		take func(s *Server, addr string)
	}{
		{"component", func(s *Server, addr string) { s.ComponentAddr = addr }},
		{"distribution", func(s *Server, addr string) { s.distAddr = addr }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()

			s, err := newServer(ReachableTempDir(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.stop() }()
			if err := s.pickPorts(); err != nil {
				t.Fatal(err)
			}
			tc.take(s, l.Addr().String())
			if err := s.writeConfig(); err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			err = s.launch()
			t.Logf("after %v: %v", time.Since(t0).Round(time.Millisecond), err)
			if !errors.Is(err, servertest.ErrPortTaken) {
				t.Fatalf("launch = %v, want ErrPortTaken", err)
			}
		})
	}
}

// The VM must not outlive the test binary: when the watchdog pipe closes
// (as it does when the test process dies), the VM halts.
func TestWatchdog(t *testing.T) {
	s, err := StartDemo(ReachableTempDir(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.stop() }()
	pid := s.PID()
	if pid == 0 {
		t.Fatal("no PID")
	}
	_ = s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("the VM runs on after its standard input closed\n%s", s.LogTail())
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("VM %d still there: %v", pid, err)
	}
}

func TestNotInstalled(t *testing.T) {
	old := ejabberdctlPaths
	ejabberdctlPaths = []string{"/nonexistent/ejabberdctl"}
	defer func() { ejabberdctlPaths = old }()
	_, err := StartDemo(ReachableTempDir(t), Options{})
	if err == nil || !strings.Contains(err.Error(), "ejabberd is not installed: run `make deps-ejabberd`") {
		t.Errorf("err = %v", err)
	}
}

func TestRejectsUnsafeFolder(t *testing.T) {
	_, err := StartDemo(ReachableTempDir(t)+"/a b", Options{})
	if err == nil || !strings.Contains(err.Error(), "only letters, digits") {
		t.Errorf("err = %v", err)
	}
}

func TestUnreachableFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the folder to the ejabberd user")
	}
	_, err := StartDemo(t.TempDir(), Options{}) // its parent is 0700 root
	if err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("err = %v", err)
	}
}
