package component

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Run connects to the server and keeps the stream alive until ctx is
// done: it reconnects with capped exponential backoff (with jitter) after
// a refused handshake or login, a stream error, a server-side close, a
// read error or a ping that got no answer. It returns nil when ctx is
// done, after closing the stream politely.
func (g *Gateway) Run(ctx context.Context) error {
	backoff := g.opts.BackoffMin
	who := []any{"domain", g.opts.Domain}
	if g.opts.Account != "" {
		who = []any{"account", g.opts.Account}
	}
	for {
		s, err := g.dial(ctx)
		if ctx.Err() != nil {
			if s != nil {
				s.close()
			}
			return nil
		}
		if err != nil {
			if refusal(err) {
				g.log.Error(err.Error(), "retry_in", backoff)
			} else {
				g.log.Warn("cannot connect to the XMPP server", append([]any{"server", g.opts.Address, "err", err, "retry_in", backoff}, who...)...)
			}
		} else {
			attrs := []any{"server", g.opts.Address, "domain", g.opts.Domain, "jid", s.self}
			if g.opts.Account != "" {
				_, encrypted := s.conn.(*tls.Conn)
				attrs = append(attrs, "tls", encrypted)
			}
			g.log.Info("connected to the XMPP server", attrs...)
			began := g.opts.Clock.Now()
			err = g.serve(ctx, s)
			if ctx.Err() != nil {
				return nil
			}
			// Only a stream that stayed up a while starts the backoff
			// again: a server that accepts and drops at once must not
			// be hammered.
			if g.opts.Clock.Now().Sub(began) >= g.opts.BackoffMax {
				backoff = g.opts.BackoffMin
			}
			g.reconnects.Add(1)
			g.log.Warn("lost the XMPP stream, reconnecting", "server", g.opts.Address, "err", err)
		}
		if !g.sleep(ctx, g.jitter(backoff)) {
			return nil
		}
		backoff = min(backoff*2, g.opts.BackoffMax)
	}
}

// dial opens a stream: a component stream, or in client mode a client
// stream logged in as the account.
func (g *Gateway) dial(ctx context.Context) (*stream, error) {
	if g.opts.Account != "" {
		return dialClient(ctx, &g.opts)
	}
	return dialComponent(ctx, &g.opts)
}

// refusal reports whether err is the server saying no to our
// configuration (a wrong secret or password, an unknown domain, a
// certificate we cannot trust): logged as an error, with its own
// explanation, rather than as a passing network fault.
func refusal(err error) bool {
	var he *HandshakeError
	var le *LoginError
	var te *TLSError
	var ae *AuthError
	return errors.As(err, &he) || errors.As(err, &le) || errors.As(err, &te) || errors.As(err, &ae)
}

// jitter spreads d over [d/2, d], so many gateways do not reconnect in step.
func (g *Gateway) jitter(d time.Duration) time.Duration {
	var b [8]byte
	if _, err := g.opts.Rand.Read(b[:]); err != nil || d < 2 {
		return d
	}
	half := d / 2
	return half + time.Duration(binary.LittleEndian.Uint64(b[:])%uint64(half+1))
}

func (g *Gateway) sleep(ctx context.Context, d time.Duration) bool {
	t := g.opts.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// serve reads s until it fails or ctx is done, pinging the server to
// notice a dead or silent stream. It publishes s as the live stream for
// its lifetime.
func (g *Gateway) serve(ctx context.Context, s *stream) error {
	g.cur.Store(s)
	defer g.cur.CompareAndSwap(s, nil)

	readErr := make(chan error, 1)
	go func() {
		for {
			in, err := s.next()
			if err != nil {
				readErr <- err
				return
			}
			g.handle(s, in)
		}
	}()
	pingErr := make(chan error, 1)
	pctx, stopPing := context.WithCancel(ctx)
	go func() { pingErr <- g.pinger(pctx, s) }()

	var err error
	select {
	case err = <-readErr:
	case err = <-pingErr:
	case <-ctx.Done():
	}
	stopPing()
	g.cur.CompareAndSwap(s, nil) // no new sends on a dying stream
	s.close()
	return err
}

// pinger sends a XEP-0199 ping every PingInterval and fails when one gets
// no answer (result or error: either proves the stream) in PingTimeout and
// nothing else arrived meanwhile either: under load a pong can queue
// behind other stanzas, and a stream that delivers them is alive.
func (g *Gateway) pinger(ctx context.Context, s *stream) error {
	for {
		if !g.sleep(ctx, g.opts.PingInterval) {
			return nil
		}
		id := g.newID()
		pong := make(chan struct{}, 1)
		g.pongs.Store(id, pong)
		read := s.reads.Load()
		err := s.send(pingIQ(g.from, g.opts.PingTo, id))
		if err == nil {
			t := g.opts.Clock.NewTimer(g.opts.PingTimeout)
			select {
			case <-pong:
			case <-t.C():
				if s.reads.Load() == read {
					err = fmt.Errorf("component: no answer to a ping within %v", g.opts.PingTimeout)
				}
			case <-ctx.Done():
			}
			t.Stop()
		}
		g.pongs.Delete(id)
		if err != nil {
			return err
		}
	}
}
