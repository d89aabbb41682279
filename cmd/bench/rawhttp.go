package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// rawClient is a minimal HTTP/1.1 client for the gateway's /auth: a pool
// of keep-alive connections, each request written as fixed bytes, the
// answer's status line and headers read with a bufio.Reader and its body
// by Content-Length. Go's net/http client costs the driver about 20 µs and
// several goroutine hand-offs per request, on the core the gateway shares
// with the driver; this one a few µs, so the figures say more about the
// gateway (-http-client=net/http measures with Go's client instead). It
// checks every answer as strictly as net/http's client would (status line,
// headers, Content-Length, body read whole) and drops a connection after
// an answer with Connection: close (a parked request) or any error.
type rawClient struct {
	addr string
	mu   sync.Mutex
	idle []*rawConn
}

func newRawClient(base string) *rawClient {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	return &rawClient{addr: u.Host}
}

// closeIdle closes the idle connections.
func (c *rawClient) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rc := range c.idle {
		_ = rc.conn.Close()
	}
	c.idle = nil
}

// worker is httpWorker over c.
func (c *rawClient) worker(base string, jids []string) func(ctx context.Context, i int) func() string {
	return func(ctx context.Context, i int) func() string {
		tu, _ := url.Parse(authURL(base, jids[i%len(jids)], requestTimeout))
		req := []byte("GET " + tu.RequestURI() + " HTTP/1.1\r\nHost: " + c.addr + "\r\nUser-Agent: http-auth-bench\r\n\r\n")
		return func() string {
			code, err := c.roundTrip(req, time.Now().Add((requestTimeout+10)*time.Second))
			if err != nil {
				return "error"
			}
			return strconv.Itoa(code)
		}
	}
}

type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
}

func (c *rawClient) get() (*rawConn, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		rc := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return rc, nil
	}
	c.mu.Unlock()
	conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{conn: conn, br: bufio.NewReaderSize(conn, 4096)}, nil
}

func (c *rawClient) roundTrip(req []byte, deadline time.Time) (int, error) {
	rc, err := c.get()
	if err != nil {
		return 0, err
	}
	_ = rc.conn.SetDeadline(deadline)
	if _, err := rc.conn.Write(req); err != nil {
		_ = rc.conn.Close()
		return 0, err
	}
	code, closeAfter, err := readAnswer(rc.br)
	if err != nil || closeAfter {
		_ = rc.conn.Close()
		return code, err
	}
	c.mu.Lock()
	c.idle = append(c.idle, rc)
	c.mu.Unlock()
	return code, nil
}

var errBadAnswer = errors.New("bench: malformed HTTP answer")

// readAnswer reads one answer: "HTTP/1.1 NNN ...", headers, and a body of
// Content-Length bytes (required: the gateway always sends it).
func readAnswer(br *bufio.Reader) (code int, closeAfter bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 14 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("%w: status line %q", errBadAnswer, line)
	}
	code, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("%w: status line %q", errBadAnswer, line)
	}
	length := -1
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("%w: header %q", errBadAnswer, h)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil || length < 0 {
				return 0, false, fmt.Errorf("%w: Content-Length %q", errBadAnswer, v)
			}
		case bytes.EqualFold(k, []byte("Connection")):
			closeAfter = bytes.EqualFold(v, []byte("close"))
		}
	}
	if length < 0 {
		return 0, false, fmt.Errorf("%w: no Content-Length", errBadAnswer)
	}
	if _, err := br.Discard(length); err != nil {
		return 0, false, err
	}
	return code, closeAfter || line[7] == '0', nil
}
