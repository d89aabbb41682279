package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/prosodytest"
	"github.com/xmpp-http-auth/http-auth/internal/servertest"
)

// gatewayProc is the http-auth binary running as a separate process.
type gatewayProc struct {
	pid     string
	base    string // http://127.0.0.1:PORT
	logPath string
	version string
	cmd     *exec.Cmd
	done    chan struct{}
	once    sync.Once
}

// gatewayEnv turns the anti-abuse limits off (SPEC section 4: test and
// benchmark set-ups do), so they never answer 429 under load.
var gatewayEnv = []string{
	"HTTPAUTH_LIMIT_PENDING_PER_JID=0",
	"HTTPAUTH_LIMIT_REQUESTS_PER_JID_PER_MINUTE=0",
	"HTTPAUTH_LIMIT_REQUESTS_PER_CALLER_PER_SECOND=0",
	"HTTPAUTH_LIMIT_PENDING_TOTAL=0",
}

// startGateway writes a configuration for Prosody p in dir and starts the
// binary, its log in dir/gateway-NAME.log, and waits until it is connected
// to Prosody. With prof, the gateway gets HTTP_AUTH_PROFILE_DIR (and only
// then: the variable is never passed on from this environment).
func startGateway(ctx context.Context, dir, name, bin string, p *prosodytest.Server, prof *profiler) (*gatewayProc, error) {
	port, err := servertest.FreePort()
	if err != nil {
		return nil, err
	}
	host, cport, _ := net.SplitHostPort(p.ComponentAddr)
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(p.Secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "httpAuth-"+name+".conf")
	lines := []string{
		"# written by cmd/bench",
		"xmpp_server_address=" + host,
		"xmpp_server_port=" + cport,
		"xmpp_jid=" + p.ComponentDomain,
		"xmpp_secret_file=" + secret,
		"http_port=" + strconv.Itoa(port),
		"http_bind_address_ipv4=127.0.0.1",
		"http_bind_address_ipv6=",
		// What a production gateway logs: one line per decision.
		"log_level=info",
		"shutdown_grace_sec=1",
		"limit_pending_per_jid=0",
		"limit_requests_per_jid_per_minute=0",
		"limit_requests_per_caller_per_second=0",
		"limit_pending_total=0",
	}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	g := &gatewayProc{
		base:    fmt.Sprintf("http://127.0.0.1:%d", port),
		logPath: filepath.Join(dir, "gateway-"+name+".log"),
		done:    make(chan struct{}),
		version: "unknown",
	}
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		g.version = strings.TrimSpace(string(out))
	}
	logFile, err := os.Create(g.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(bin, "--config", conf)
	cmd.Env = append(withoutHTTPAuthEnv(os.Environ()), gatewayEnv...)
	if prof != nil {
		cmd.Env = append(cmd.Env, profileDirEnv+"="+prof.dir)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // a Ctrl-C is ours: we stop it ourselves
		Pdeathsig: syscall.SIGKILL, // and it dies with us whatever happens
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the gateway: %w", err)
	}
	g.cmd = cmd
	g.pid = strconv.Itoa(cmd.Process.Pid)
	go func() { _ = cmd.Wait(); close(g.done) }()
	if err := g.waitConnected(ctx); err != nil {
		g.stop()
		return nil, fmt.Errorf("%w\n%s", err, servertest.Tail(g.logPath, 20))
	}
	return g, nil
}

// withoutHTTPAuthEnv drops the gateway's own variables (HTTPAUTH_*, and
// the profiling build's HTTP_AUTH_PROFILE_DIR) from env.
func withoutHTTPAuthEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HTTPAUTH_") && !strings.HasPrefix(kv, profileDirEnv+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// waitConnected polls /auth for a user who does not exist: 523 "not
// connected" at once until the component is connected, another 523 (the
// server's bounce) after.
func (g *gatewayProc) waitConnected(ctx context.Context) error {
	probe := g.base + "/auth?jid=nobody@localhost&domain=probe&method=GET&timeout=5"
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(probe)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 523 || !strings.Contains(string(b), "not connected") {
				return nil
			}
		}
		select {
		case <-g.done:
			return errors.New("the gateway exited at start-up")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("the gateway did not connect to Prosody within 30 s")
		}
	}
}

// stop sends SIGTERM to the gateway (by its PID) and waits for it to exit,
// killing it after 15 s. Safe to repeat.
func (g *gatewayProc) stop() {
	g.once.Do(func() {
		if g.cmd == nil {
			return
		}
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.done:
		case <-time.After(15 * time.Second):
			_ = g.cmd.Process.Kill()
			<-g.done
		}
	})
}

// newHTTPClient is a keep-alive client for loopback with room for idle
// connections enough for every worker; no proxy, no compression.
func newHTTPClient(idle int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
}

// authURL is the /auth request a site would send for jid.
func authURL(base, jid string, timeout int) string {
	v := url.Values{"jid": {jid}, "domain": {askURL}, "method": {askMethod}, "timeout": {strconv.Itoa(timeout)}}
	return base + "/auth?" + v.Encode()
}

// httpWorker returns, for worker i, the function doing one /auth request:
// it returns the status code as text ("200") or "error".
func httpWorker(c *http.Client, base string, jids []string) func(ctx context.Context, i int) func() string {
	return func(ctx context.Context, i int) func() string {
		target := authURL(base, jids[i%len(jids)], requestTimeout)
		return func() string {
			rctx, cancel := context.WithTimeout(ctx, (requestTimeout+10)*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(rctx, http.MethodGet, target, nil)
			if err != nil {
				return "error"
			}
			resp, err := c.Do(req)
			if err != nil {
				return "error"
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return strconv.Itoa(resp.StatusCode)
		}
	}
}
