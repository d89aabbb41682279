// Command demo-answer is the person at the other end of the gateway in
// `make demo`: it logs in to an XMPP server as an ordinary account and asks,
// on the terminal, whether to approve each XEP-0070 confirm request it
// receives, then answers in the form the request came in (an iq result or
// error for an iq, a message for a message).
//
// It logs in without TLS (SASL PLAIN in clear): for a local demo server only.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xmpp-http-auth/http-auth/internal/xmpptest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// request is a confirm request waiting for the person's answer.
type request struct {
	s     xmpptest.Stanza
	viaIQ bool
}

// queue holds requests in arrival order. The XMPP reader fills it and never
// blocks on the terminal.
type queue struct {
	mu    sync.Mutex
	items []request
	ready chan struct{} // has a value while items is not empty
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

func (q *queue) push(r request) {
	q.mu.Lock()
	q.items = append(q.items, r)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *queue) pop() (request, int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return request{}, 0, false
	}
	r := q.items[0]
	q.items = q.items[1:]
	if len(q.items) > 0 {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return r, len(q.items), true
}

// terminal serialises writes to stdout: the XMPP reader prints chat
// messages while the main loop prompts.
type terminal struct {
	mu sync.Mutex
	w  io.Writer
}

func (t *terminal) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, format, args...)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo-answer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:5222", "XMPP client port (host:port) of the demo server")
	jid := fs.String("jid", "", "account to log in as, user@domain")
	password := fs.String("password", "", "password (default $DEMO_ANSWER_PASSWORD)")
	resource := fs.String("resource", "demo", "resource to bind: the gateway's iq requests go to jid/resource")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *password == "" {
		*password = getenv("DEMO_ANSWER_PASSWORD")
	}
	var problems []string
	if *jid == "" {
		problems = append(problems, "-jid is required (user@domain)")
	}
	if *password == "" {
		problems = append(problems, "-password (or DEMO_ANSWER_PASSWORD) is required")
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if len(problems) > 0 {
		return errors.New("demo-answer: " + strings.Join(problems, "; "))
	}

	out := &terminal{w: stdout}
	pending := newQueue()
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := xmpptest.DialConfig(dialCtx, xmpptest.Config{
		Addr: *addr, JID: *jid, Password: *password, Resource: *resource,
		Handler: func(c *xmpptest.Client, s xmpptest.Stanza) { handle(c, s, pending, out) },
	})
	if err != nil {
		return fmt.Errorf("demo-answer: log in as %s at %s: %w", *jid, *addr, err)
	}
	defer c.Close()
	out.printf("Logged in as %s; waiting for confirm requests (Ctrl-C or EOF to quit).\n", c.JID())

	lines := make(chan string)
	stop := make(chan struct{})
	defer close(stop)
	go readLines(stdin, lines, stop)

	for {
		// Wait for a request; lines typed meanwhile must not answer a
		// request that has not been shown yet.
		var (
			req  request
			more int
			ok   bool
		)
		for !ok {
			select {
			case <-ctx.Done():
				return nil
			case <-c.Done():
				return fmt.Errorf("demo-answer: connection lost: %w", c.Err())
			case line, open := <-lines:
				if !open {
					return nil
				}
				if strings.TrimSpace(line) != "" {
					out.printf("(no request pending: %q ignored)\n", line)
				}
			case <-pending.ready:
				req, more, ok = pending.pop()
			}
		}

		s := req.s
		out.printf("Request %s: %s %s from %s — approve? [y/N] ", s.ConfirmID(), s.Method(), s.URL(), s.From)
		var line string
		select {
		case <-ctx.Done():
			out.printf("\n")
			return nil
		case <-c.Done():
			out.printf("\n")
			return fmt.Errorf("demo-answer: connection lost: %w", c.Err())
		case l, open := <-lines:
			if !open {
				out.printf("\n")
				return nil
			}
			line = l
		}
		approve := isYes(line)
		if err := answer(c, req, approve); err != nil {
			return fmt.Errorf("demo-answer: answering %s: %w", s.ConfirmID(), err)
		}
		verdict := "denied"
		if approve {
			verdict = "approved"
		}
		how := "message"
		if req.viaIQ {
			how = "iq"
		}
		if more > 0 {
			out.printf("%s %s (by %s); %d more waiting.\n", verdict, s.ConfirmID(), how, more)
		} else {
			out.printf("%s %s (by %s).\n", verdict, s.ConfirmID(), how)
		}
	}
}

func isYes(line string) bool {
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

func answer(c *xmpptest.Client, r request, approve bool) error {
	switch {
	case r.viaIQ && approve:
		return c.ApproveIQ(r.s)
	case r.viaIQ:
		return c.DenyIQ(r.s)
	case approve:
		return c.ApproveMessage(r.s)
	default:
		return c.DenyMessage(r.s)
	}
}

// handle runs on the XMPP reading goroutine: it queues confirm requests and
// keeps the session a polite one (pings answered, other queries refused).
func handle(c *xmpptest.Client, s xmpptest.Stanza, pending *queue, out *terminal) {
	switch s.Name {
	case "iq":
		if s.Type != "get" && s.Type != "set" {
			return // never answer a result or an error
		}
		switch {
		case s.HasConfirm():
			pending.push(request{s: s, viaIQ: true})
		case s.Payload().Space == xmpptest.NSPing:
			_ = c.ApproveIQ(s)
		default:
			_ = c.ErrorIQ(s, "service-unavailable")
		}
	case "message":
		switch {
		case s.IsError():
			out.printf("\n(error from %s: %s)\n", s.From, s.ErrorCondition())
		case s.HasConfirm():
			pending.push(request{s: s, viaIQ: false})
		case s.Body() != "":
			out.printf("\n%s says: %s\n", s.From, s.Body())
		}
	}
}

// readLines feeds lines until EOF or until run has returned (a terminal read
// itself cannot be interrupted; the process exits anyway).
func readLines(r io.Reader, lines chan<- string, stop <-chan struct{}) {
	defer close(lines)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		select {
		case lines <- sc.Text():
		case <-stop:
			return
		}
	}
}
