package main

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestReadAnswer(t *testing.T) {
	for _, tc := range []struct {
		in        string
		code      int
		close, ok bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 200, false, true},
		{"HTTP/1.1 401 Unauthorized\r\nconnection: Close\r\ncontent-length: 0\r\n\r\n", 401, true, true},
		{"HTTP/1.0 523 status code 523\r\nContent-Length: 1\r\n\r\nx", 523, true, true},
		{"HTTP/1.1 200 OK\r\n\r\n", 0, false, false},                           // no Content-Length
		{"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", 0, false, false}, // body cut short
		{"SPDY 200\r\n\r\n", 0, false, false},
	} {
		code, closeAfter, err := readAnswer(bufio.NewReader(strings.NewReader(tc.in)))
		if (err == nil) != tc.ok || code != tc.code && tc.ok || closeAfter != tc.close && tc.ok {
			t.Errorf("%q: %d %v %v", tc.in, code, closeAfter, err)
		}
	}
}

// The raw client keeps its connections alive, and drops one that the
// server closes.
func TestRawClient(t *testing.T) {
	codes := []int{200, 401, 523, 409, 200}
	conns := map[string]bool{}
	n := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conns[r.RemoteAddr] = true
		if n == 2 {
			w.Header().Set("Connection", "close")
		}
		w.WriteHeader(codes[n])
		n++
	}))
	defer ts.Close()
	c := newRawClient(ts.URL)
	do := c.worker(ts.URL, []string{"a@b"})(context.Background(), 0)
	for i, want := range codes {
		if got := do(); got != strconv.Itoa(want) {
			t.Fatalf("request %d: %s, want %d", i, got, want)
		}
	}
	if len(conns) != 2 {
		t.Fatalf("%d connections, want 2 (one closed by the server)", len(conns))
	}
	c.closeIdle()
}
