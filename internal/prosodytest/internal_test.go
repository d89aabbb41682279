package prosodytest

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/xmpp-http-auth/http-auth/internal/servertest"
)

// Prosody keeps running when a port is taken; launch must notice from the
// log instead of waiting 10 s, so that firstStart can pick other ports.
func TestLaunchDetectsTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	s, err := newServer(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.stop() }()
	if err := s.pickPorts(); err != nil {
		t.Fatal(err)
	}
	s.C2SAddr = l.Addr().String()
	if err := s.writeConfig(); err != nil {
		t.Fatal(err)
	}
	err = s.launch()
	if !errors.Is(err, servertest.ErrPortTaken) {
		t.Fatalf("launch = %v, want ErrPortTaken", err)
	}
}

func TestNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := StartDemo(t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "prosody is not installed: run `make deps`") {
		t.Errorf("err = %v", err)
	}
}

func TestConfigRejectsUnsafeValues(t *testing.T) {
	_, err := StartDemo(t.TempDir(), Options{Secret: `x" os.execute("true`})
	if err == nil || !strings.Contains(err.Error(), "cannot be written to the Lua config") {
		t.Errorf("err = %v", err)
	}
}
