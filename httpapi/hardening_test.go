package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServerLimitsOnTheWire: a real server (NewServer on a Listen
// socket) refuses headers over MaxHeaderBytes with 431 and bodies over
// the cap with 413, and closes the connection after both.
func TestServerLimitsOnTheWire(t *testing.T) {
	ls, err := Listen(ListenConfig{IPv4: "127.0.0.1", HTTPPort: 0, HTTPSPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, &fakeConfirmer{}, Options{})
	stop := serve(t, h, ls)
	defer stop()
	addr := ls[0].Addr().String()

	tests := []struct {
		name    string
		request string
		code    int
	}{
		{"headers just under the limit", "GET /auth?" + okParams + " HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", MaxHeaderBytes-200) + "\r\n\r\n", 200},
		// net/http allows 4 KiB of slack over MaxHeaderBytes.
		{"headers over the limit", "GET /auth?" + okParams + " HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", MaxHeaderBytes+8<<10) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		// Answered at once, without waiting for the body.
		{"body over the cap", fmt.Sprintf("POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", DefaultMaxBodyBytes+1), http.StatusRequestEntityTooLarge},
		{"body over the cap, chunked", "POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n", DefaultMaxBodyBytes+1) + strings.Repeat("a", DefaultMaxBodyBytes+1) + "\r\n0\r\n\r\n", http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawRoundTrip(t, addr, tc.request)
			if resp.StatusCode != tc.code {
				t.Errorf("got %d, want %d", resp.StatusCode, tc.code)
			}
			if tc.code != 200 && !resp.Close {
				t.Error("the connection stays open after a refusal")
			}
		})
	}
}

// TestForbiddenDoesNotReadTheBody: with API keys on, a POST without a key
// is answered 403 at once; its body is neither read nor waited for.
func TestForbiddenDoesNotReadTheBody(t *testing.T) {
	ls, err := Listen(ListenConfig{IPv4: "127.0.0.1", HTTPPort: 0, HTTPSPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, &fakeConfirmer{}, Options{APIKeys: testKeys})
	stop := serve(t, h, ls)
	defer stop()
	resp := rawRoundTrip(t, ls[0].Addr().String(),
		"POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\njid=")
	if resp.StatusCode != http.StatusForbidden || !resp.Close {
		t.Errorf("got %d (close %v), want 403 and the connection closed", resp.StatusCode, resp.Close)
	}
}

// rawRoundTrip writes request on a new connection to addr and reads the
// answer (its body discarded).
func rawRoundTrip(t *testing.T, addr, request string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
