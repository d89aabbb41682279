// Command demo runs the gateway for real on loopback, for `make demo`: a
// throwaway Prosody (users alice and bob), the http-auth binary as its
// component, and demo-answer logged in as alice so a person can approve or
// deny from this terminal. It prints the curl commands to try from
// another terminal, and stops everything it started on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/prosodytest"
	"github.com/xmpp-http-auth/http-auth/internal/servertest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dir := fs.String("dir", ".demo", "folder for the throwaway server, the configuration and the logs")
	gatewayBin := fs.String("gateway", "./http-auth", "the gateway binary")
	answerBin := fs.String("answer", "./bin/demo-answer", "the demo-answer binary")
	httpPort := fs.Int("http-port", 8080, "the gateway's HTTP port on 127.0.0.1 (0 = any free port)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	_ = os.RemoveAll(abs) // throwaway: a fresh server every time
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	alicePw, bobPw := servertest.RandomHex(8), servertest.RandomHex(8)

	fmt.Fprintln(stdout, "Starting a throwaway Prosody on 127.0.0.1 ...")
	p, err := prosodytest.StartDemo(filepath.Join(abs, "prosody"), prosodytest.Options{
		Users: map[string]string{"alice": alicePw, "bob": bobPw},
	})
	if err != nil {
		return err
	}
	defer func() { _ = p.Stop() }()

	port := *httpPort
	if port == 0 || !portFree(port) {
		if port, err = servertest.FreePort(); err != nil {
			return err
		}
	}
	conf := filepath.Join(abs, "httpAuth.conf")
	host, cport, _ := net.SplitHostPort(p.ComponentAddr)
	lines := []string{
		"# written by `make demo`: a component of the throwaway Prosody",
		"xmpp_server_address=" + host,
		"xmpp_server_port=" + cport,
		"xmpp_jid=" + p.ComponentDomain,
		"xmpp_secret_file=secret",
		"http_port=" + strconv.Itoa(port),
		"http_bind_address_ipv4=127.0.0.1",
		"http_bind_address_ipv6=",
		"http_timeout_sec=120",
	}
	if err := os.WriteFile(filepath.Join(abs, "secret"), []byte(p.Secret+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}

	logPath := filepath.Join(abs, "gateway.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	gw := exec.Command(*gatewayBin, "--config", conf)
	gw.Stdout, gw.Stderr = logFile, logFile
	if err := gw.Start(); err != nil {
		return fmt.Errorf("starting the gateway: %w", err)
	}
	gwDone := make(chan error, 1)
	go func() { gwDone <- gw.Wait() }()
	defer func() {
		_ = gw.Process.Signal(syscall.SIGTERM)
		select {
		case <-gwDone:
		case <-time.After(15 * time.Second):
			_ = gw.Process.Kill()
		}
	}()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitConnected(ctx, base, gwDone); err != nil {
		return fmt.Errorf("%w (see %s)", err, logPath)
	}

	fmt.Fprintf(stdout, `
The gateway is up: component %s of the Prosody on %s, HTTP API on %s
Its log: %s

You are alice@localhost: this terminal asks you to approve or deny.
In another terminal, try:

  # asks alice's client by iq (a full JID):
  curl -i '%s/auth?jid=alice@localhost/demo&domain=shop.example&method=POST'

  # asks by message (a bare JID), with a code of the site's own:
  curl -i '%s/auth?jid=alice@localhost&url=https://shop.example/login&method=GET&transaction_id=HELLO42'

  # nobody answers within 5 s: 401 timeout
  curl -i '%s/auth?jid=alice@localhost/demo&domain=shop.example&method=GET&timeout=5'

  # bob is registered but offline: 523 at once
  curl -i '%s/auth?jid=bob@localhost&domain=shop.example&method=GET'

Answer y to approve (200), anything else to deny (401). Ctrl-C stops everything.

`, p.ComponentDomain, p.C2SAddr, base, logPath, base, base, base, base)

	ans := exec.CommandContext(ctx, *answerBin, "-addr", p.C2SAddr, "-jid", "alice@localhost", "-resource", "demo")
	ans.Env = append(os.Environ(), "DEMO_ANSWER_PASSWORD="+alicePw)
	ans.Stdin, ans.Stdout, ans.Stderr = stdin, stdout, stderr
	ans.Cancel = func() error { return ans.Process.Signal(os.Interrupt) }
	ans.WaitDelay = 5 * time.Second
	if err := ans.Run(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("demo-answer: %w", err)
	}
	fmt.Fprintln(stdout, "\nStopping the gateway and Prosody ...")
	return nil
}

// waitConnected polls /readyz until the gateway is connected to Prosody.
func waitConnected(ctx context.Context, base string, gwDone <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-gwDone:
			return fmt.Errorf("the gateway exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("the gateway did not connect to Prosody within 30 s")
		}
	}
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
